import Foundation
import Testing

extension RealServer {
    @Suite("close and kill on a real mariadbd: exactness, no leak, no collateral")
    struct ActionTests {
        /// Runs `myconn close|kill ... --yes` as root over the server's socket, with a private audit log.
        func act(_ server: TestServer, _ args: [String]) throws -> RunResult {
            let audit = server.dir.appendingPathComponent("audit.log").path
            return try myconn(args + ["--yes", "--audit-log", audit, "--no-defaults", "-uroot", "-S", server.socketPath])
        }

        /// The audit log's outcome records (each acted target also has an intent record before it).
        func auditLines(_ server: TestServer) throws -> [[String: Any]] {
            let text = (try? String(contentsOf: server.dir.appendingPathComponent("audit.log"), encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try parseJSON(String($0)) }.filter { $0["phase"] as? String == "outcome" }
        }

        @Test("no cross-session leak: A's rows never reach B, A fails within a second", arguments: ["ptrace", "pidfd", "destroy"])
        func noLeak(method: String) throws {
            let server = try TestServer()
            let a = try DemoClientsProcess(server: server, specs: ["tcp4:secret:1"], sleepSeconds: 3)
            let aid = a.sessions[0].id
            let before = nowMs()
            // --wait 0: A's server thread only notices when its SLEEP ends; B must connect at once.
            let r = try act(server, ["close", "\(aid)", "--method", method, "--wait", "0", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let b = try run("/usr/bin/mariadb", ["--no-defaults", "-uroot", "-S", server.socketPath, "-N", "-B",
                                                 "-e", "SELECT SLEEP(4), 'B_ROW'"])
            #expect(b.stdout == "0\tB_ROW\n", "B got exactly its own row: \(b.stdout) \(b.stderr)")
            #expect(!b.stdout.contains("SECRET"))
            let summary = try #require(a.finish()[aid])
            #expect(summary.result == nil, "A's query did not complete: \(summary.result ?? "")")
            let failedAt = try #require(summary.errorAtMs, "A saw a connection error")
            #expect(failedAt - before < 1000, "A failed \(failedAt - before) ms after the close, not after its sleep")
            #expect(["2013", "2006"].contains(summary.errorCode ?? ""), "lost connection, got \(summary.errorCode ?? "-")")
            let line = try #require(try auditLines(server).last)
            #expect(line["method"] as? String == method)
            #expect(line["outcome"] as? String == "done")
            #expect(line["session_id"] as? Int == Int(aid))
        }

        @Test("no collateral: 10 of 40 looping sessions closed in one command; the 30 others see nothing")
        func noCollateral() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:40"])
            usleep(300_000)
            let victims = Array(clients.sessions.prefix(10).map(\.id))
            let r = try act(server, ["close"] + victims.map(String.init) + ["--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            let targets = try #require(json["targets"] as? [[String: Any]])
            #expect(targets.count == 10)
            #expect(targets.allSatisfy { $0["outcome"] as? String == "done" && $0["socket_gone"] as? Bool == true })
            let freeze = targets.compactMap { $0["freeze_us"] as? Int }
            #expect(Set(freeze).count == 1, "one freeze for the batch")
            // The window of injected registers: inside the freeze, for the whole batch at once.
            let injected = targets.compactMap { $0["injected_us"] as? Int }
            #expect(injected.count == 10 && Set(injected).count == 1, "\(injected)")
            #expect(injected.allSatisfy { $0 > 0 && $0 <= (freeze.first ?? 0) }, "injected \(injected) within freeze \(freeze)")
            usleep(300_000)
            let listed = try server.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND != 'Daemon'")
            let present = Set(listed.split(separator: "\n").compactMap { UInt64($0) })
            let summaries = clients.finish()
            for s in clients.sessions {
                let sum = try #require(summaries[s.id])
                #expect(sum.wrongRows == 0, "session \(s.id) never got another session's row")
                if victims.contains(s.id) {
                    #expect(sum.errorCode != nil, "victim \(s.id) saw its connection drop")
                    #expect(!present.contains(s.id))
                } else {
                    #expect(sum.errorCode == nil, "bystander \(s.id) saw error \(sum.errorCode ?? "")")
                    #expect(sum.ok > 0)
                    #expect(present.contains(s.id), "bystander \(s.id) is still in the processlist")
                }
            }
            #expect(try server.sql("SELECT 1") == "1\n", "mysqld keeps serving")
        }

        @Test("kill: an idle and a busy session end; kill --query ends the query and keeps the session")
        func sqlKill() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "tcp4:busy:2"])
            let (idle, busy, queried) = (clients.sessions[0].id, clients.sessions[1].id, clients.sessions[2].id)
            let r = try act(server, ["kill", "\(idle)", "\(busy)", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let targets = try #require(try parseJSON(r.stdout)["targets"] as? [[String: Any]])
            #expect(targets.allSatisfy { $0["session_gone"] as? Bool == true })
            let q = try act(server, ["kill", "--query", "\(queried)", "--json"])
            #expect(q.status == 0, "\(q.stderr)")
            let after = try #require(try parseJSON(q.stdout)["targets"] as? [[String: Any]]).first
            #expect(after?["command_after"] as? String == "Sleep", "the session stays, idle")
            let ids = try server.sql("SELECT ID FROM information_schema.PROCESSLIST")
            #expect(ids.split(separator: "\n").contains(Substring(String(queried))))
            #expect(!ids.split(separator: "\n").contains(Substring(String(busy))))
            #expect(try auditLines(server).count == 3)
        }

        @Test("no SQL at all: with max_connections reached, list falls back to the kernel, close --pid --peer frees a slot")
        func noSQL() throws {
            let server = try TestServer(extraArgs: ["--max-connections=10"])  // MariaDB's minimum
            // Accounts with CONNECTION ADMIN (root) may exceed max_connections; the application's
            // account may not: its sessions fill the server, and its logins are refused.
            try server.sql("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'pw'; CREATE USER 'app'@'localhost' IDENTIFIED BY 'pw'")
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:10"], user: "app", password: "pw")
            // list cannot log in, and falls back to the kernel's view by itself, with one warning.
            let full = try myconn(["list", "--json", "--no-defaults", "-uapp", "-ppw", "-h127.0.0.1", "-P\(server.port)"])
            #expect(full.status == 0, "\(full.stderr)")
            let warning = full.stderr.split(separator: "\n")
            #expect(warning.count == 1 && warning[0].contains("Too many connections") && warning[0].contains("kernel alone"),
                    "\(full.stderr)")
            let oracle = try Oracle(server: server)
            for listed in [try parseJSON(full.stdout),
                           try parseJSON(try myconn(["list", "--json", "--no-sql", "--pid", "\(server.pid)"]).stdout)] {
                #expect((listed["server"] as? [String: Any])?["sql"] as? Bool == false)
                #expect((listed["sessions"] as? [Any])?.isEmpty == true)
                let sockets = try #require(listed["unmatched_sockets"] as? [[String: Any]])
                for c in clients.sessions {
                    let s = try #require(sockets.first { $0["peer"] as? String == c.local }, "\(c.local) listed")
                    #expect(s["fd"] as? Int == oracle.serverEnd(of: c).map { Int($0.fd) })
                }
            }
            let peer = clients.sessions[0].local
            let audit = server.dir.appendingPathComponent("audit.log").path
            let r = try myconn(["close", "--pid", "\(server.pid)", "--peer", peer, "--yes", "--audit-log", audit, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let target = try #require(try parseJSON(r.stdout)["targets"] as? [[String: Any]]).first
            #expect(target?["peer"] as? String == peer)
            #expect(target?["session_id"] is NSNull)
            var loggedIn = false
            for _ in 0..<50 where !loggedIn {
                loggedIn = try run("/usr/bin/mariadb", ["--no-defaults", "-uapp", "-ppw", "-h127.0.0.1", "-P\(server.port)",
                                                        "-N", "-B", "-e", "SELECT 1"]).stdout == "1\n"
                if !loggedIn { usleep(100_000) }
            }
            #expect(loggedIn, "a new client of the application's account can log in")
        }

        @Test("bad targets: one line, a documented status, nothing touched")
        func badTargets() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "unix:idle:1"])
            let tcp = clients.sessions[0].id, unix = clients.sessions[1].id
            expectOneLineFailure(try act(server, ["close", "424242"]), status: 7, mentioning: ["no session 424242"])
            let next = try #require(UInt64(server.sql("SELECT CONNECTION_ID()").trimmingCharacters(in: .whitespacesAndNewlines))) + 1
            expectOneLineFailure(try act(server, ["close", "\(next)"]), status: 7, mentioning: ["myconn's own connection"])
            let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd")
            let file = try #require(fds.first { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(server.pid)/fd/\($0)"))?.hasPrefix("/") == true })
            expectOneLineFailure(try myconn(["close", "--pid", "\(server.pid)", "--fd", file, "--yes"]),
                                 status: 7, mentioning: ["is not a socket"])
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
            sleeper.arguments = ["30"]
            try sleeper.run()
            defer { kill(sleeper.processIdentifier, SIGKILL); sleeper.waitUntilExit() }
            expectOneLineFailure(try myconn(["close", "--pid", "\(sleeper.processIdentifier)", "--fd", "0", "--yes"]),
                                 status: 7, mentioning: ["not mysqld", "--force"])
            expectOneLineFailure(try act(server, ["close", "\(unix)", "--method", "destroy"]),
                                 status: 9, mentioning: ["TCP sockets only"])
            let noTTY = try myconn(["close", "\(tcp)", "--no-defaults", "-uroot", "-S", server.socketPath])
            expectOneLineFailure(noTTY, status: 64, mentioning: ["--yes"])
            let badLog = try myconn(["close", "\(tcp)", "--yes", "--audit-log", "/proc/myconn/audit.log",
                                     "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(badLog.status == 10, "\(badLog.stderr)")
            #expect(badLog.stderr.contains("cannot write the audit log"))
            let copy = server.dir.appendingPathComponent("myconn").path
            try FileManager.default.copyItem(atPath: productsDir.appendingPathComponent("myconn").path, toPath: copy)
            chmod(copy, 0o755)
            let unprivileged = try run("/usr/sbin/runuser", ["-u", "nobody", "--", copy, "close", "--pid", "\(server.pid)",
                                                             "--peer", clients.sessions[0].local, "--yes",
                                                             "--audit-log", "/tmp/myconn-nobody-audit.log"])
            expectOneLineFailure(unprivileged, status: 6, mentioning: ["no permission", "nothing was done"])
            // Nothing was touched by any of these: both sessions are still there and served.
            let ids = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n")
            #expect(ids.contains(Substring(String(tcp))) && ids.contains(Substring(String(unix))))
            let dry = try act(server, ["close", "\(tcp)", "--dry-run", "--json"])
            #expect(dry.status == 0)
            #expect(try auditLines(server).last?["dry_run"] as? Bool == true)
            #expect(try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").contains(Substring(String(tcp))))
        }

        @Test("--raw-close: the bare close(fd) only by name, with every thread frozen, and a warning")
        func rawClose() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "tcp4:loop:5"])
            let target = clients.sessions[0]
            let end = try #require(try Oracle(server: server).serverEnd(of: target))
            let r = try act(server, ["close", "\(target.id)", "--raw-close", "--wait", "0", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("warning: --raw-close frees fd numbers mysqld still owns"))
            let t = try #require(try parseJSON(r.stdout)["targets"] as? [[String: Any]]).first
            #expect(t?["outcome"] as? String == "done")
            #expect((t?["freeze_us"] as? Int ?? 0) > 0)
            #expect(try auditLines(server).last?["method"] as? String == "ptrace-raw-close")
            // The number was freed inside mysqld (what the seed's gdb recipe did).
            let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(server.pid)/fd/\(end.fd)")
            #expect(link != "socket:[\(end.inode)]", "fd \(end.fd) no longer holds the session's socket")
            let summaries = clients.finish()
            for s in clients.sessions.dropFirst() {
                #expect(summaries[s.id]?.errorCode == nil, "the frozen-and-thawed bystanders saw no error")
                #expect(summaries[s.id]?.wrongRows == 0)
            }
            #expect(try server.sql("SELECT 1") == "1\n")
            let invalid = try myconn(["close", "\(target.id)", "--raw-close", "--method", "pidfd", "--yes"])
            expectOneLineFailure(invalid, status: 64, mentioning: ["--raw-close"])
        }

        @Test("client-gone: a client that leaves mid-query is classified within a second; close --zombie drops it and nothing else")
        func clientGone() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:abandon:1", "tcp4:busy:1", "tcp4:idle:1"],
                                                 sleepSeconds: 3)
            let gone = clients.sessions[0].id
            var listed: [[String: Any]] = []
            for _ in 0..<20 {
                let z = try myconn(["zombies", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
                listed = try parseJSON(z.stdout)["sessions"] as? [[String: Any]] ?? []
                if !listed.isEmpty { break }
                usleep(50_000)
            }
            #expect(listed.map { $0["id"] as? Int } == [Int(gone)], "only the abandoned session")
            #expect(listed.first?["zombie"] as? [String] == ["client-gone"])
            #expect(listed.first?["tcp_state"] as? String == "CLOSE_WAIT")
            let r = try act(server, ["close", "--zombie", "client-gone", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let targets = try #require(try parseJSON(r.stdout)["targets"] as? [[String: Any]])
            #expect(targets.map { $0["session_id"] as? Int } == [Int(gone)])
            #expect(targets.first?["session_gone"] as? Bool == true, "gone once its SLEEP(3) wrote to the cut socket")
            let ids = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n")
            #expect(!ids.contains(Substring(String(gone))))
            for other in clients.sessions.dropFirst() { #expect(ids.contains(Substring(String(other.id))), "\(other.id) untouched") }
        }

        @Test("ptrace refuses, clearly, when mysqld is already traced")
        func alreadyTraced() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"])
            let tracer = Process()
            tracer.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
            tracer.arguments = ["-p", "\(server.pid)", "-o", "/dev/null"]
            tracer.standardError = FileHandle.nullDevice
            try tracer.run()
            defer { kill(tracer.processIdentifier, SIGKILL); tracer.waitUntilExit() }
            for _ in 0..<100 {
                let status = (try? String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)) ?? ""
                if status.contains("TracerPid:\t\(tracer.processIdentifier)") { break }
                usleep(20_000)
            }
            expectOneLineFailure(try act(server, ["close", "\(clients.sessions[0].id)"]), status: 9,
                                 mentioning: ["already traced", "strace", "--method pidfd"])
            let ids = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n")
            #expect(ids.contains(Substring(String(clients.sessions[0].id))))
        }
    }
}
