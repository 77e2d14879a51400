import Foundation
import Testing

/// A real dockerd and a mariadbd in its own container, from each image `scripts/test.sh` builds
/// from docker/mariadb/ and names in MYCONN_TEST_MARIADB_IMAGES (MariaDB 10.11 on Debian 12,
/// 11.8 on Debian 13). Every container a test makes is named `myconn-test-*` and removed when
/// the test ends, failed or not.
enum DockerEnvironment {
    static let images: [String] = (ProcessInfo.processInfo.environment["MYCONN_TEST_MARIADB_IMAGES"] ?? "")
        .split(separator: " ").map(String.init)
    /// The myconn image (docker/Dockerfile) for the sidecar test: MYCONN_TEST_IMAGE.
    static let toolImage = ProcessInfo.processInfo.environment["MYCONN_TEST_IMAGE"]
    static let engineAnswers: Bool = isRoot && ((try? run("/usr/bin/env", ["docker", "version"]))?.status == 0)
    static let available = !images.isEmpty && engineAnswers
    static let reason: Comment = "needs root, a Docker engine and MYCONN_TEST_MARIADB_IMAGES (scripts/test.sh starts dockerd and builds the images)"
}

/// One `docker` call; a failure is the test's.
@discardableResult
func docker(_ args: [String]) throws -> String {
    let r = try run("/usr/bin/env", ["docker"] + args)
    guard r.status == 0 else { throw TestFailure("docker \(args.joined(separator: " ")): \(r.stderr)") }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A mariadbd container with port 3306 published on 127.0.0.1 only; removed at deinit.
final class MariaDBContainer {
    let name: String
    let hostPID: Int32
    let hostPort: UInt16

    init(image: String) throws {
        name = "myconn-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try docker(["run", "-d", "--name", name, "-p", "127.0.0.1::3306", image])
        var ready = false
        for _ in 0..<300 {
            if (try? run("/usr/bin/env", ["docker", "exec", name, "mariadb", "-N", "-e", "SELECT 1"]))?.status == 0 { ready = true; break }
            usleep(100_000)
        }
        guard ready else { throw TestFailure("mariadbd in \(name) did not answer within 30 s: \((try? docker(["logs", name])) ?? "")") }
        hostPID = try #require(Int32(try docker(["inspect", "-f", "{{.State.Pid}}", name])))
        let published = try docker(["port", name, "3306/tcp"])  // 127.0.0.1:49153
        hostPort = try #require(published.split(separator: "\n").first.flatMap { $0.split(separator: ":").last }.flatMap { UInt16($0) })
    }

    /// Demo clients on the host reaching the published port as the TCP test user (`spec`:
    /// TRANSPORT:KIND:COUNT, as `myconn-demo-clients --sessions` takes it).
    func clientsOnHost(_ spec: String) throws -> DemoClientsProcess {
        try DemoClientsProcess(arguments: ["--port", String(hostPort), "--host4", "127.0.0.1", "--user", "test",
                                           "--password", "test", "--sessions", spec])
    }

    /// A client inside the container, idle in the processlist while `sleep` holds its stdin open.
    func idleClientInside(seconds: Int = 300) throws {
        try docker(["exec", "-d", name, "sh", "-c", "sleep \(seconds) | mariadb -h127.0.0.1 -utest -ptest"])
    }

    /// The container's sockets on 3306 as the kernel shows them there (`ss` run in its network
    /// namespace): peer as ss prints it -> inode; and mysqld's fd -> inode from /proc.
    func oracle() throws -> (inodeByPeer: [String: UInt64], fdByInode: [UInt64: Int32]) {
        var byPeer: [String: UInt64] = [:]
        let ss = try run("/usr/bin/nsenter", ["-t", String(hostPID), "-n", "/usr/bin/ss", "-tnHe", "state", "all", "sport", "= :3306"])
        for line in ss.stdout.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 5, let ino = f.first(where: { $0.hasPrefix("ino:") }).flatMap({ UInt64($0.dropFirst(4)) }), ino != 0 else { continue }
            byPeer[String(f[4])] = ino
        }
        var fds: [UInt64: Int32] = [:]
        let dir = "/proc/\(hostPID)/fd"
        for entry in try FileManager.default.contentsOfDirectory(atPath: dir) {
            guard let fd = Int32(entry), let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(entry)"),
                  link.hasPrefix("socket:["), let inode = UInt64(link.dropFirst(8).dropLast()) else { continue }
            fds[inode] = fd
        }
        return (byPeer, fds)
    }

    /// Every TCP session's inode as the container's kernel has it for that peer, and its fd as
    /// mysqld's /proc says; no fd anywhere in the output that is not its inode's. Returns the
    /// number of TCP sessions checked.
    @discardableResult
    func expectExact(_ json: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let sessions = try #require(json["sessions"] as? [[String: Any]], sourceLocation: sourceLocation)
        let unmatched = try #require(json["unmatched_sockets"] as? [[String: Any]], sourceLocation: sourceLocation)
        let truth = try oracle()
        var tcp = 0
        for s in sessions where s["transport"] as? String == "tcp4" {
            tcp += 1
            let peer = try #require(s["peer"] as? String, sourceLocation: sourceLocation)
            let inode = try #require(truth.inodeByPeer[peer], "the container's kernel has a socket from \(peer)", sourceLocation: sourceLocation)
            #expect((s["inode"] as? Int).map(UInt64.init) == inode, "session \(s["id"] ?? "?"): inode", sourceLocation: sourceLocation)
            #expect((s["fd"] as? Int).map(Int32.init) == truth.fdByInode[inode], "session \(s["id"] ?? "?"): fd", sourceLocation: sourceLocation)
            #expect(s["unresolved"] is NSNull, sourceLocation: sourceLocation)
        }
        for s in sessions + unmatched {
            guard let fd = s["fd"] as? Int, let inode = (s["inode"] as? Int).map(UInt64.init) else { continue }
            #expect(truth.fdByInode[inode] == Int32(fd), "fd \(fd) is not inode \(inode)", sourceLocation: sourceLocation)
        }
        return tcp
    }

    /// A client in a container of its own on the default bridge, in SELECT SLEEP(600) on this
    /// server; removed at the container's end. Returns its name and address.
    func clientContainer(_ suffix: String, image: String) throws -> (name: String, ip: String) {
        let db = try docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name])
        let client = "\(name)-\(suffix)"
        clients.append(client)
        try docker(["run", "-d", "--name", client, "--entrypoint", "mariadb", image,
                    "-h\(db)", "-utest", "-ptest", "-N", "-e", "SELECT SLEEP(600)"])
        return (client, try docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", client]))
    }
    private var clients: [String] = []

    deinit {
        for c in clients { _ = try? run("/usr/bin/env", ["docker", "rm", "-f", c]) }
        _ = try? run("/usr/bin/env", ["docker", "rm", "-f", name])
    }
}

// Inside the real-server suite: one test at a time (see RealServer).
extension RealServer {
    @Suite("Docker: a mariadbd in its own container", .enabled(if: DockerEnvironment.available, DockerEnvironment.reason))
    struct DockerTests {
        @Test("list --container: the engine's pid, the socket through /proc/<pid>/root, every fd and inode exact (clients on the host through a published port, and inside the container)",
              arguments: DockerEnvironment.images)
        func listExact(image: String) throws {
            let c = try MariaDBContainer(image: image)
            let host = try c.clientsOnHost("tcp4:idle:3")
            try c.idleClientInside()
            try c.idleClientInside()
            usleep(500_000)
            let r = try myconn(["list", "--container", c.name, "--json", "--no-defaults"])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            let server = try #require(json["server"] as? [String: Any])
            #expect((server["pid"] as? Int).map(Int32.init) == c.hostPID, "server.pid is the engine's State.Pid")
            #expect(server["same_network_namespace"] as? Bool == false)
            let sessions = try #require(json["sessions"] as? [[String: Any]])
            let tcp = try c.expectExact(json)
            #expect(tcp == 5, "3 clients through the published port and 2 inside: \(tcp) TCP sessions")
            let ids = Set(sessions.compactMap { ($0["id"] as? Int).map(UInt64.init) })
            for s in host.sessions { #expect(ids.contains(s.id), "host client's session \(s.id) is listed") }
            // Through the published port the server sees docker's proxy on the bridge, not 127.0.0.1.
            let hostSessions = sessions.filter { s in host.sessions.contains { UInt64($0.id) == (s["id"] as? Int).map(UInt64.init) } }
            #expect(hostSessions.allSatisfy { ($0["host"] as? String)?.hasPrefix("127.") == false }, "\(hostSessions.map { $0["host"] ?? "" })")

            // --clients: a client inside the container is its own process (the host sees it); one
            // through the published port is Docker's proxy, and a warning says the client is beyond.
            let withClients = try myconn(["list", "--container", c.name, "--clients", "--json", "--no-defaults"])
            #expect(withClients.status == 0, "\(withClients.stderr)")
            let rows = try #require(try parseJSON(withClients.stdout)["sessions"] as? [[String: Any]])
            func commands(_ s: [String: Any]) -> [String] { ((s["clients"] as? [[String: Any]]) ?? []).compactMap { $0["command"] as? String } }
            let viaProxy = rows.filter { r in host.sessions.contains { Int($0.id) == r["id"] as? Int } }
            #expect(viaProxy.count == 3 && viaProxy.allSatisfy { commands($0) == ["docker-proxy"] }, "\(viaProxy.map(commands))")
            let inside = rows.filter { r in r["transport"] as? String == "tcp4" && !host.sessions.contains { Int($0.id) == r["id"] as? Int } }
            #expect(inside.count == 2 && inside.allSatisfy { commands($0) == ["mariadb"] }, "\(inside.map(commands))")
            #expect(withClients.stderr.contains("3 session(s) come through docker-proxy"), "\(withClients.stderr)")

            // The same through the published port, naming nothing: the server end of myconn's own
            // connection is docker-proxy's, which is followed to the container's mysqld; myconn's
            // own session (seen from the bridge) is neither listed nor an unmatched socket.
            let viaPort = try myconn(["list", "-h", "127.0.0.1", "-P", String(c.hostPort), "-utest", "-ptest", "--json", "--no-defaults"])
            #expect(viaPort.status == 0, "\(viaPort.stderr)")
            let viaJSON = try parseJSON(viaPort.stdout)
            #expect(((viaJSON["server"] as? [String: Any])?["pid"] as? Int).map(Int32.init) == c.hostPID, "mysqld found beyond docker-proxy")
            #expect(try c.expectExact(viaJSON) == 5, "the same five TCP sessions")
            #expect((viaJSON["unmatched_sockets"] as? [[String: Any]])?.isEmpty == true, "myconn's own socket is its own: \(viaJSON["unmatched_sockets"] ?? "")")
        }

        @Test("close --container with ptrace, pidfd and destroy: each victim's client fails, the bystander keeps working",
              arguments: DockerEnvironment.images)
        func closeEachMethod(image: String) throws {
            let c = try MariaDBContainer(image: image)
            let clients = try c.clientsOnHost("tcp4:loop:4")
            usleep(300_000)
            let methods = ["ptrace", "pidfd", "destroy"]
            for (s, method) in zip(clients.sessions, methods) {
                let r = try myconn(["close", String(s.id), "--container", c.name, "--method", method, "--yes", "--json", "--no-defaults"])
                #expect(r.status == 0, "\(method): \(r.stderr)")
                let targets = try #require(try parseJSON(r.stdout)["targets"] as? [[String: Any]])
                #expect(targets.first?["outcome"] as? String == "done", "\(method): \(r.stdout)")
            }
            usleep(300_000)
            let summaries = clients.finish()
            for (i, s) in clients.sessions.enumerated() {
                let sum = try #require(summaries[s.id])
                #expect(sum.wrongRows == 0, "session \(s.id) never got another session's row")
                if i < methods.count {
                    #expect(sum.errorCode != nil, "the \(methods[i]) victim \(s.id) saw its connection drop")
                } else {
                    #expect(sum.errorCode == nil, "bystander \(s.id) saw error \(sum.errorCode ?? "")")
                    #expect(sum.ok > 0)
                }
            }
        }

        @Test("from a sidecar (the db container's pid and network namespaces): with SYS_PTRACE and NET_ADMIN list is exact and pidfd and ptrace cut; without NET_ADMIN destroy is refused; without SYS_PTRACE the fds are missing and SQL KILL still works",
              .enabled(if: DockerEnvironment.toolImage != nil, "needs MYCONN_TEST_IMAGE (scripts/test.sh builds it with scripts/docker-image.sh)"))
        func sidecar() throws {
            let tool = try #require(DockerEnvironment.toolImage)
            let c = try MariaDBContainer(image: try #require(DockerEnvironment.images.first))
            let clients = try c.clientsOnHost("tcp4:loop:5")
            usleep(300_000)
            func sidecarWith(_ caps: [String]) -> [String] {
                ["run", "--rm", "--pid", "container:\(c.name)", "--network", "container:\(c.name)"] + caps.flatMap { ["--cap-add", $0] } + [tool]
            }
            let sidecar = sidecarWith(["SYS_PTRACE", "NET_ADMIN"])
            let socket = ["-S", "/proc/1/root/run/mysqld/mysqld.sock", "--no-defaults"]
            let listed = try parseJSON(try docker(sidecar + ["list", "--json"] + socket))
            let server = try #require(listed["server"] as? [String: Any])
            #expect(server["pid"] as? Int == 1, "the sidecar sees mariadbd as pid 1 of the container's pid namespace")
            #expect(server["same_network_namespace"] as? Bool == true, "the sidecar is in the container's network namespace")
            let oracle = try c.oracle()
            let sessions = try #require(listed["sessions"] as? [[String: Any]])
            for s in clients.sessions {
                let row = try #require(sessions.first { ($0["id"] as? Int).map(UInt64.init) == s.id }, "session \(s.id) listed")
                let inode = try #require((row["inode"] as? Int).map(UInt64.init), "session \(s.id) has its inode")
                #expect(oracle.fdByInode[inode] == (row["fd"] as? Int).map(Int32.init), "session \(s.id): fd as the host's /proc says")
                #expect(oracle.inodeByPeer[try #require(row["peer"] as? String)] == inode, "session \(s.id): inode as the container's kernel says")
            }
            let s = clients.sessions
            // Both capabilities: pidfd and ptrace each cut one session.
            for (victim, method) in [(s[0], "pidfd"), (s[1], "ptrace")] {
                let closed = try parseJSON(try docker(sidecar + ["close", String(victim.id), "--method", method, "--yes", "--json"] + socket))
                let targets = try #require(closed["targets"] as? [[String: Any]])
                #expect(targets.first?["outcome"] as? String == "done", "\(method): \(closed)")
            }
            // Without NET_ADMIN the kernel refuses SOCK_DESTROY: the target's outcome is failed,
            // saying why (status 8), and the session is untouched.
            let noNetAdmin = try run("/usr/bin/env", ["docker"] + sidecarWith(["SYS_PTRACE"]) + ["close", String(s[2].id), "--method", "destroy", "--yes"] + socket)
            #expect(noNetAdmin.status == 8, "destroy without NET_ADMIN: \(noNetAdmin.stderr)")
            #expect(noNetAdmin.stdout.contains("needs CAP_NET_ADMIN in mysqld's network namespace"), "\(noNetAdmin.stdout)")
            // Without SYS_PTRACE, /proc/1 is closed to the sidecar: over TCP in the shared
            // namespace the sessions are listed without their descriptors (status 6), and SQL KILL works.
            let tcp = ["-h", "127.0.0.1", "-P", "3306", "-utest", "-ptest", "--no-defaults"]
            let noPtrace = try run("/usr/bin/env", ["docker"] + sidecarWith(["NET_ADMIN"]) + ["list", "--json"] + tcp)
            #expect(noPtrace.status == 6, "list without SYS_PTRACE: \(noPtrace.stderr)")
            let rows = ((try? parseJSON(noPtrace.stdout))?["sessions"] as? [[String: Any]]) ?? []
            #expect(rows.contains { $0["id"] as? Int == Int(s[3].id) } && rows.allSatisfy { $0["fd"] is NSNull }, "\(rows.map { $0["fd"] ?? "" })")
            let killed = try run("/usr/bin/env", ["docker"] + sidecarWith([]) + ["kill", String(s[3].id), "--yes"] + tcp)
            #expect(killed.status == 0, "SQL KILL needs no capability: \(killed.stderr)")
            usleep(300_000)
            let summaries = clients.finish()
            for victim in [s[0], s[1], s[3]] {
                #expect(summaries[victim.id]?.errorCode != nil, "victim \(victim.id)'s client saw its connection end")
            }
            for bystander in [s[2], s[4]] {
                #expect(summaries[bystander.id]?.errorCode == nil, "\(bystander.id) saw nothing (destroy was refused)")
                #expect((summaries[bystander.id]?.ok ?? 0) > 0)
            }
        }

        @Test("the compose example: up; the app's three sessions listed from the sidecar; one cut with destroy through docker-compose exec; the app reconnects; down clean",
              .enabled(if: DockerEnvironment.toolImage != nil && FileManager.default.fileExists(atPath: "/usr/bin/docker-compose"),
                       "needs MYCONN_TEST_IMAGE and docker-compose (scripts/test.sh installs and builds them)"))
        func composeExample() throws {
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let project = "myconn-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            var environment = ProcessInfo.processInfo.environment
            environment["MYCONN_IMAGE"] = try #require(DockerEnvironment.toolImage)
            environment["MYCONN_DB_IMAGE"] = try #require(DockerEnvironment.images.first)
            let compose = ["-p", project, "-f", repo.appendingPathComponent("docker/compose.yaml").path]
            func dc(_ args: [String]) throws -> RunResult { try run("/usr/bin/docker-compose", compose + args, environment: environment) }
            defer { _ = try? dc(["down", "-v", "--timeout", "5"]) }
            let up = try dc(["up", "-d"])
            try #require(up.status == 0, "\(up.stderr)")
            func appSessions() throws -> [[String: Any]] {
                // As the compose file's header says to type it: option files read (the image keeps
                // no socket default that would override MYSQL_UNIX_PORT).
                let r = try dc(["exec", "-T", "myconn", "myconn", "list", "--json"])
                guard r.status == 0, let json = try? parseJSON(r.stdout) else { return [] }
                return ((json["sessions"] as? [[String: Any]]) ?? []).filter { ($0["info"] as? String) == "SELECT SLEEP(3600)" }
            }
            var sessions: [[String: Any]] = []
            for _ in 0..<150 {
                sessions = try appSessions()
                if sessions.count == 3 { break }
                usleep(200_000)
            }
            try #require(sessions.count == 3, "the app's three sessions appear: \(sessions.count)")
            #expect(sessions.allSatisfy { $0["fd"] is Int && $0["transport"] as? String == "tcp4" }, "each with its fd")
            let victim = try #require(sessions.first?["id"] as? Int)
            let cut = try dc(["exec", "-T", "myconn", "myconn", "close", String(victim), "--method", "destroy", "--yes", "--json"])
            #expect(cut.status == 0, "\(cut.stdout) \(cut.stderr)")
            var after: [[String: Any]] = []
            for _ in 0..<100 {
                after = try appSessions()
                if after.count == 3 && !after.contains(where: { $0["id"] as? Int == victim }) { break }
                usleep(200_000)
            }
            #expect(after.count == 3, "the app is back to three sessions")
            #expect(!after.contains { $0["id"] as? Int == victim }, "the cut session is gone; a new one took its place")
            let logs = try dc(["logs", "app"])
            #expect(logs.stdout.contains("ended; reconnecting"), "the app saw the cut: \(logs.stdout.suffix(300))")
            let down = try dc(["down", "-v", "--timeout", "5"])
            #expect(down.status == 0, "\(down.stderr)")
            #expect(try docker(["ps", "-aq", "--filter", "name=\(project)"]).isEmpty, "down leaves no container")
        }

        @Test("clients in containers of their own: exact; one killed mid-query is client-gone and kill --zombie ends it; one cut off the network is found dead by probe, a live one is not",
              arguments: DockerEnvironment.images)
        func clientContainers(image: String) throws {
            let c = try MariaDBContainer(image: image)
            let killed = try c.clientContainer("client-killed", image: image)
            let cutOff = try c.clientContainer("client-cut", image: image)
            let live = try c.clientContainer("client-live", image: image)
            func listed() throws -> [String: Any] {
                let r = try myconn(["list", "--container", c.name, "--json", "--no-defaults"])
                guard r.status == 0 else { throw TestFailure("list: \(r.stderr)") }
                return try parseJSON(r.stdout)
            }
            func session(from ip: String, in json: [String: Any]) -> [String: Any]? {
                ((json["sessions"] as? [[String: Any]]) ?? []).first { ($0["host"] as? String)?.hasPrefix(ip + ":") == true }
            }
            var json: [String: Any] = [:]
            for _ in 0..<100 {
                json = try listed()
                if [killed, cutOff, live].allSatisfy({ session(from: $0.ip, in: json) != nil }) { break }
                usleep(100_000)
            }
            try c.expectExact(json)
            let idOf = { (ip: String) throws -> Int in try #require(session(from: ip, in: json)?["id"] as? Int, "the session from \(ip)") }
            let killedID = try idOf(killed.ip), cutID = try idOf(cutOff.ip), liveID = try idOf(live.ip)

            try docker(["kill", killed.name])
            var gone = false
            for _ in 0..<50 {
                let z = try myconn(["zombies", "--container", c.name, "--json", "--no-defaults"])
                let rows = ((try? parseJSON(z.stdout))?["sessions"] as? [[String: Any]]) ?? []
                if rows.contains(where: { $0["id"] as? Int == killedID && ($0["zombie"] as? [String])?.contains("client-gone") == true }) { gone = true; break }
                usleep(100_000)
            }
            #expect(gone, "the killed client's session is client-gone")
            let k = try myconn(["kill", "--zombie", "client-gone", "--container", c.name, "--yes", "--json", "--no-defaults"])
            #expect(k.status == 0, "\(k.stdout) \(k.stderr)")
            let ids = Set(((try listed()["sessions"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int })
            #expect(!ids.contains(killedID), "kill --zombie ended it")
            #expect(ids.contains(cutID) && ids.contains(liveID), "the two others are still there")

            try docker(["network", "disconnect", "bridge", cutOff.name])
            let p = try myconn(["probe", String(cutID), String(liveID), "--container", c.name, "--yes", "--json", "--timeout", "15", "--no-defaults"])
            #expect(p.status == 11, "a client found dead: \(p.stderr)")
            let targets = (try? parseJSON(p.stdout))?["targets"] as? [[String: Any]] ?? []
            let verdict = { (id: Int) in targets.first { $0["session_id"] as? Int == id }?["verdict"] as? String }
            #expect(verdict(cutID) == "dead", "\(targets)")
            #expect(verdict(liveID) == "alive", "\(targets)")
        }

        @Test("a container that is not running, and an engine that does not answer: one line, a documented status")
        func notRunning() throws {
            let c = try MariaDBContainer(image: try #require(DockerEnvironment.images.first))
            try docker(["stop", "-t", "10", c.name])
            let stopped = try myconn(["list", "--container", c.name, "--no-defaults"])
            #expect(stopped.status == 5, "\(stopped.stderr)")
            #expect(stopped.stderr.contains("is not running"), "\(stopped.stderr)")
            let noEngine = try myconn(["list", "--container", c.name, "--docker-socket", "/nonexistent/docker.sock", "--no-defaults"])
            #expect(noEngine.status == 14, "\(noEngine.stderr)")
            #expect(noEngine.stderr.split(separator: "\n").count == 1)
        }
    }
}
