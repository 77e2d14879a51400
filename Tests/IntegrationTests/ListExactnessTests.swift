import Foundation
import Testing

/// Checks `myconn list --json` against what the test reads itself (see ``Oracle``).
/// - Parameter unixBusyProven: whether unix sessions inside SELECT SLEEP must have an fd
///   (performance_schema on) or must have none, with a reason (their thread waits on a futex).
func expectExact(_ json: [String: Any], server: TestServer, clients: DemoClientsProcess, unixBusyProven: Bool,
                 sourceLocation: SourceLocation = #_sourceLocation) throws {
    let oracle = try Oracle(server: server)
    let srv = try #require(json["server"] as? [String: Any])
    #expect((srv["pid"] as? Int).map(Int32.init) == server.pid, "server.pid", sourceLocation: sourceLocation)
    #expect(srv["port"] as? Int == Int(server.port), sourceLocation: sourceLocation)
    let sessions = try #require(json["sessions"] as? [[String: Any]])
    let byID = Dictionary(uniqueKeysWithValues: sessions.map { (UInt64($0["id"] as! Int), $0) })
    for c in clients.sessions {
        let s = try #require(byID[c.id], "session \(c.id) missing from the list", sourceLocation: sourceLocation)
        let truth = try #require(oracle.serverEnd(of: c), "the oracle has no server end for session \(c.id)",
                                 sourceLocation: sourceLocation)
        #expect(s["transport"] as? String == c.transport, "session \(c.id)", sourceLocation: sourceLocation)
        let busy = (s["command"] as? String) == "Query"
        if c.transport == "unix" && busy && !unixBusyProven {
            #expect(s["fd"] is NSNull, "session \(c.id): an unproven fd must be null", sourceLocation: sourceLocation)
            #expect((s["unresolved"] as? String)?.isEmpty == false, "session \(c.id) says why", sourceLocation: sourceLocation)
            continue
        }
        #expect(s["fd"] as? Int == Int(truth.fd), "session \(c.id) fd", sourceLocation: sourceLocation)
        #expect((s["inode"] as? Int).map(UInt64.init) == truth.inode, "session \(c.id) inode", sourceLocation: sourceLocation)
        #expect(s["unresolved"] is NSNull, "session \(c.id): \(String(describing: s["unresolved"]))", sourceLocation: sourceLocation)
        if c.transport != "unix" {
            #expect(s["tcp_state"] as? String == "ESTABLISHED", sourceLocation: sourceLocation)
            #expect(s["peer"] as? String == c.local, "peer is the client's own address", sourceLocation: sourceLocation)
        }
    }
    // No answer anywhere in the output may be a wrong fd.
    let unmatched = try #require(json["unmatched_sockets"] as? [[String: Any]])
    for s in sessions + unmatched {
        guard let fd = s["fd"] as? Int else { continue }
        let inode = try #require((s["inode"] as? Int).map(UInt64.init))
        #expect(oracle.fdByInode[inode] == Int32(fd), "fd \(fd) is not inode \(inode)", sourceLocation: sourceLocation)
    }
}

/// `--source netlink` and `--source proc` give the same kernel columns for every session and socket.
func expectSourcesAgree(server: TestServer, clients: DemoClientsProcess,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
    func kernelView(_ source: String) throws -> [String] {
        let r = try myconn(["list", "--json", "--all", "--source", source, "--no-defaults", "-uroot", "-S", server.socketPath])
        #expect(r.status == 0, "\(source): \(r.stderr)", sourceLocation: sourceLocation)
        let json = try parseJSON(r.stdout)
        #expect((json["server"] as? [String: Any])?["kernel_source"] as? String == source, sourceLocation: sourceLocation)
        let keys = ["transport", "fd", "inode", "local", "peer", "tcp_state", "match", "unresolved"]
        func line(_ o: [String: Any], _ id: Any?) -> String {
            "\(id ?? "-") " + keys.map { String(describing: o[$0] ?? "absent") }.joined(separator: " ")
        }
        let sessions = (json["sessions"] as? [[String: Any]] ?? []).map { line($0, $0["id"]) }
        let sockets = ((json["unmatched_sockets"] as? [[String: Any]] ?? []) + (json["listening_sockets"] as? [[String: Any]] ?? []))
            .map { line($0, nil) }.sorted()
        return sessions + sockets
    }
    let netlink = try kernelView("netlink")
    let proc = try kernelView("proc")
    #expect(netlink == proc, sourceLocation: sourceLocation)
    #expect(netlink.count >= clients.sessions.count, sourceLocation: sourceLocation)
}

extension RealServer {
    @Suite("list: every session's fd and inode are exact on a real mariadbd")
    struct ListExactnessTests {
        static let mix = ["tcp4:idle:3", "tcp4:busy:2", "tcp6:idle:2", "tcp6:busy:1", "unix:idle:3", "unix:busy:2"]

        @Test("clients over 127.0.0.1, ::1 and the unix socket, idle and in SELECT SLEEP; myconn over the socket and over TCP")
        func loopbackAndUnix() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: Self.mix)
            let viaSocket = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(viaSocket.status == 0, "\(viaSocket.stderr)")
            #expect((try parseJSON(viaSocket.stdout)["server"] as? [String: Any])?["same_network_namespace"] as? Bool == true)
            try expectExact(parseJSON(viaSocket.stdout), server: server, clients: clients, unixBusyProven: false)
            let viaTCP = try myconn(["list", "--json", "--no-defaults", "-uroot", "-h127.0.0.1", "-P\(server.port)"])
            #expect(viaTCP.status == 0, "\(viaTCP.stderr)")
            try expectExact(parseJSON(viaTCP.stdout), server: server, clients: clients, unixBusyProven: false)
            let viaTCP6 = try myconn(["list", "--json", "--no-defaults", "-uroot", "-h", "::1", "-P", "\(server.port)"])
            #expect(viaTCP6.status == 0, "\(viaTCP6.stderr)")
            try expectExact(parseJSON(viaTCP6.stdout), server: server, clients: clients, unixBusyProven: false)
            try expectSourcesAgree(server: server, clients: clients)
        }

        @Test("with performance_schema on, busy unix-socket sessions are proven too")
        func performanceSchema() throws {
            let server = try TestServer(extraArgs: ["--performance-schema=ON"])
            let clients = try DemoClientsProcess(server: server, specs: Self.mix)
            let r = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            try expectExact(json, server: server, clients: clients, unixBusyProven: true)
            let sessions = try #require(json["sessions"] as? [[String: Any]])
            #expect(sessions.contains { $0["match"] as? String == "performance_schema" })
            #expect(r.stderr.isEmpty, "myconn's own socket is attributed too, so no warning: \(r.stderr)")
        }

        @Test("mysqld in its own network namespace; clients inside it; myconn outside through the socket path")
        func ownNetworkNamespace() throws {
            let server = try TestServer(ownNetworkNamespace: true)
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "tcp4:busy:2", "tcp6:idle:1", "unix:idle:2", "unix:busy:1"])
            // The port is not reachable from here: only the socket path crosses the namespace.
            let r = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            try expectExact(json, server: server, clients: clients, unixBusyProven: false)
            #expect((json["server"] as? [String: Any])?["kernel_source"] as? String == "netlink",
                    "sock_diag was opened inside mysqld's namespace (setns)")
            try expectSourcesAgree(server: server, clients: clients)
            // Our own /proc/net/tcp does not hold these sockets: proof that mysqld's namespace was read.
            let ownTCP = try String(contentsOfFile: "/proc/self/net/tcp", encoding: .utf8)
            #expect(!ownTCP.contains(String(format: ":%04X 01", server.port)))
        }

        @Test("mysqld in its own pid and network namespaces (as in a container): list, zombies and close from outside, by host pid")
        func ownPidNamespace() throws {
            let server = try TestServer(ownPidNamespace: true)
            let written = try String(contentsOf: server.dir.appendingPathComponent("mysqld.pid"), encoding: .utf8)
            #expect(Int32(written.trimmingCharacters(in: .whitespacesAndNewlines)) != server.pid,
                    "mariadbd has another pid inside its namespace")
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "tcp6:busy:1", "unix:idle:1"])
            let r = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            try expectExact(parseJSON(r.stdout), server: server, clients: clients, unixBusyProven: false)
            #expect((try parseJSON(r.stdout)["server"] as? [String: Any])?["same_network_namespace"] as? Bool == false,
                    "the addresses are said to be mysqld's view")
            let table = try myconn(["list", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(table.stdout.hasPrefix("mysqld pid \(server.pid) (another network namespace: addresses as mysqld sees them)"))
            let withPid = try myconn(["list", "--json", "--pid", "\(server.pid)", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(withPid.status == 0, "--pid takes the host-side pid: \(withPid.stderr)")
            let z = try myconn(["zombies", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(z.status == 0, "\(z.stderr)")
            let audit = server.dir.appendingPathComponent("audit.log").path
            let close = try myconn(["close", "\(clients.sessions[0].id)", "--yes", "--json", "--audit-log", audit,
                                    "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(close.status == 0, "\(close.stderr)")
            let t = try #require(try parseJSON(close.stdout)["targets"] as? [[String: Any]]).first
            #expect(t?["outcome"] as? String == "done" && t?["socket_gone"] as? Bool == true)
            let destroy = try myconn(["close", "\(clients.sessions[1].id)", "--method", "destroy", "--yes", "--json",
                                      "--audit-log", audit, "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(destroy.status == 0, "SOCK_DESTROY inside mysqld's namespace: \(destroy.stderr)")
        }

        @Test("SQL over TCP to a mysqld whose port the host cannot reach, from inside its network namespace (--netns-of)")
        func connectInsideNamespace() throws {
            let server = try TestServer(ownPidNamespace: true)
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "tcp6:idle:1", "unix:idle:1"])
            let tcp = ["--no-defaults", "-uroot", "-h", "127.0.0.1", "-P", "\(server.port)", "--connect-timeout", "2"]
            // From the host's namespace 127.0.0.1:port is nobody: no SQL, only the kernel-only fallback.
            let outside = try myconn(["list", "--json"] + tcp)
            #expect(outside.status == 0 && outside.stderr.contains("cannot log in"), "\(outside.stderr)")
            #expect((try parseJSON(outside.stdout)["server"] as? [String: Any])?["sql"] as? Bool == false)
            let r = try myconn(["list", "--json", "--netns-of", "\(server.pid)"] + tcp)
            #expect(r.status == 0, "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            #expect((json["server"] as? [String: Any])?["pid"] as? Int == Int(server.pid),
                    "mysqld found as the owner of the server end, in its own namespace's table")
            try expectExact(json, server: server, clients: clients, unixBusyProven: false)
            #expect((json["unmatched_sockets"] as? [Any])?.isEmpty == true, "myconn's own TCP session is recognised as such")
            let k = try myconn(["kill", "\(clients.sessions[0].id)", "--yes", "--json", "--netns-of", "\(server.pid)",
                                "--audit-log", server.dir.appendingPathComponent("audit.log").path] + tcp)
            #expect(k.status == 0, "every command takes it: \(k.stderr)")
            let gone = try myconn(["list", "--netns-of", "999999999"] + tcp)
            #expect(gone.status == 5 && gone.stderr.split(separator: "\n").count == 1, "\(gone.stderr)")
        }

        @Test("HOST as a name (name resolution on): matched by peer port, and the fd is still exact")
        func resolvedNames() throws {
            let server = try TestServer(resolveNames: true)
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "tcp4:busy:1"])
            let r = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            let sessions = try #require(json["sessions"] as? [[String: Any]])
            let tcp = sessions.filter { ($0["host"] as? String)?.hasPrefix("localhost:") == true }
            #expect(tcp.count == 3, "the server shows names: \(sessions.map { $0["host"] ?? "" })")
            #expect(tcp.allSatisfy { $0["match"] as? String == "port" })
            try expectExact(json, server: server, clients: clients, unixBusyProven: false)
        }

        @Test("netlink and /proc agree on 500 sessions in mixed states (idle, in a query, client gone; tcp4, tcp6, unix)")
        func sourcesAgreeAt500() throws {
            let server = try TestServer(extraArgs: ["--max-connections=700"])
            let clients = try DemoClientsProcess(server: server, specs: [
                "tcp4:idle:250", "tcp6:idle:100", "tcp4:busy:60", "tcp6:busy:20", "tcp4:abandon:40", "unix:idle:30",
            ])
            #expect(clients.sessions.count == 500)
            usleep(300_000)
            try expectSourcesAgree(server: server, clients: clients)
            let json = try parseJSON(try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath]).stdout)
            let states = Set((json["sessions"] as? [[String: Any]] ?? []).compactMap { $0["tcp_state"] as? String })
            #expect(states == ["ESTABLISHED", "CLOSE_WAIT"], "mixed states: \(states)")
        }

        @Test("TCP health from tcp_info: idle sessions show their idle time; unix and --source proc have none")
        func health() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "tcp6:idle:1", "unix:idle:1"])
            usleep(600_000)
            let json = try parseJSON(try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath]).stdout)
            let sessions = try #require(json["sessions"] as? [[String: Any]])
            for c in clients.sessions {
                let s = try #require(sessions.first { $0["id"] as? Int == Int(c.id) })
                if c.transport == "unix" {
                    #expect(s["rtt_us"] is NSNull && s["last_recv_ms"] is NSNull)
                    continue
                }
                #expect((s["rtt_us"] as? Int ?? 0) > 0, "session \(c.id) rtt")
                #expect(s["retransmits"] as? Int == 0 && s["unacked"] as? Int == 0 && s["probes"] as? Int == 0)
                #expect((s["last_recv_ms"] as? Int ?? 0) >= 500, "idle for 0.6 s: \(s["last_recv_ms"] ?? "-")")
            }
            let proc = try parseJSON(try myconn(["list", "--json", "--source", "proc", "--no-defaults", "-uroot", "-S", server.socketPath]).stdout)
            #expect((proc["sessions"] as? [[String: Any]] ?? []).allSatisfy { $0["rtt_us"] is NSNull })
            let wide = try myconn(["list", "--wide", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(wide.stdout.contains("RTT_US") && wide.stdout.contains("LAST_RECV_MS"))
        }

        @Test("--all adds the listeners; the table prints every session with its fd")
        func tableAndListeners() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "unix:idle:1"])
            let json = try parseJSON(try myconn(["list", "--json", "--all", "--no-defaults", "-uroot", "-S", server.socketPath]).stdout)
            let listening = try #require(json["listening_sockets"] as? [[String: Any]])
            #expect(Set(listening.compactMap { $0["transport"] as? String }) == ["tcp4", "tcp6", "unix"])
            #expect(listening.contains { $0["local"] as? String == "127.0.0.1:\(server.port)" && $0["tcp_state"] as? String == "LISTEN" })
            let table = try myconn(["list", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(table.status == 0)
            let oracle = try Oracle(server: server)
            for c in clients.sessions {
                let fd = try #require(oracle.serverEnd(of: c)?.fd)
                let row = table.stdout.split(separator: "\n").first { $0.hasPrefix("\(c.id) ") }
                let cells = try #require(row).split(separator: " ", omittingEmptySubsequences: true)
                #expect(cells.contains(Substring(String(fd))), "session \(c.id) row shows fd \(fd): \(row ?? "")")
            }
        }
    }
}
