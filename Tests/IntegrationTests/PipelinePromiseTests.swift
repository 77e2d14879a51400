import Foundation
import Testing

/// Runs myconn, sends `signal` after `milliseconds`, and waits for it. `signalled` is set
/// when the signal ended the process (not myconn's own exit).
func myconnSignalled(_ args: [String], after milliseconds: UInt32, signal: Int32) throws -> (result: RunResult, signalled: Bool) {
    var signalled = false
    let r = try run(productsDir.appendingPathComponent("myconn").path, args, started: { pid in
        usleep(milliseconds * 1000)
        kill(pid, signal)
    }, signalled: &signalled)
    return (r, signalled)
}

/// Every record of an audit log.
func auditRecords(_ path: String) throws -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return try text.split(separator: "\n").map { try parseJSON(String($0)) }
}

extension RealServer {
    @Suite("the action pipeline's promises: signals during the wait, audit write errors")
    struct PipelineSignalTests {
        @Test("a signal during close's wait ends the wait, not myconn: intent and outcome (interrupted) recorded, JSON printed, status 13",
              arguments: [("ptrace", SIGINT), ("pidfd", SIGTERM), ("destroy", SIGHUP)])
        func interruptedClose(method: String, signal: Int32) throws {
            let server = try TestServer()
            // A session in SELECT SLEEP outlives the cut by seconds: the wait is still on when INT comes.
            let a = try DemoClientsProcess(server: server, specs: ["tcp4:secret:1"], sleepSeconds: 8)
            let id = a.sessions[0].id
            let audit = server.dir.appendingPathComponent("audit.log").path
            let (r, signalled) = try myconnSignalled(["close", "\(id)", "--method", method, "--yes", "--wait", "5", "--json",
                                                      "--audit-log", audit, "--no-defaults", "-uroot", "-S", server.socketPath],
                                                     after: 600, signal: signal)
            #expect(!signalled && r.status == 13, "status \(r.status): \(r.stderr)")
            let json = try parseJSON(r.stdout)
            #expect(json["interrupted"] as? String == [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"][signal])
            let t = try #require((json["targets"] as? [[String: Any]])?.first)
            #expect(t["outcome"] as? String == "interrupted" && t["session_id"] as? Int == Int(id))
            let records = try auditRecords(audit).filter { $0["session_id"] as? Int == Int(id) }
            #expect(records.map { $0["phase"] as? String } == ["intent", "outcome"])
            #expect(records.last?["outcome"] as? String == "interrupted")
            #expect(a.finish()[id]?.errorCode != nil, "the cut was made: the client saw its connection drop")
        }

        @Test("INT while probing an unreachable client: its options are written back first, verdict interrupted, status 13")
        func interruptedProbe() throws {
            let host = try TestHost()
            let server = try TestServer(extraArgs: ["--bind-address=127.0.0.1,::1,\(host.serverAddress)"])
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON *.* TO 'app'@'%'")
            let remote = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"], user: "app", password: "pw",
                                                netns: host.name, host4: host.serverAddress)
            let s = remote.sessions[0]
            usleep(1_200_000)  // idle for over a second: probed at once, not only watched
            let timerBefore = try #require(try ProbeTests.keepaliveTimer(server: server, peer: s.local))
            try host.unplug()  // no ACK will come: without the signal, the verdict (dead) takes seconds
            let audit = server.dir.appendingPathComponent("audit.log").path
            let (r, signalled) = try myconnSignalled(["probe", "\(s.id)", "--yes", "--json", "--timeout", "15", "--audit-log", audit,
                                                      "--no-defaults", "-uroot", "-S", server.socketPath],
                                                     after: 1500, signal: SIGINT)
            #expect(!signalled && r.status == 13, "status \(r.status): \(r.stderr)")
            let t = try #require((try parseJSON(r.stdout)["targets"] as? [[String: Any]])?.first)
            #expect(t["verdict"] as? String == "interrupted", "\(t)")
            #expect(t["options_restored"] as? Bool == true)
            #expect(try auditRecords(audit).map { $0["phase"] as? String } == ["intent", "outcome"])
            let timerAfter = try ProbeTests.keepaliveTimer(server: server, peer: s.local)
            #expect(timerBefore.contains("min") && timerAfter?.contains("min") == true,
                    "the kernel's keepalive timer is the server's again: before \(timerBefore), after \(timerAfter ?? "none")")
            #expect(try server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = \(s.id)") == "1\n",
                    "interrupted before a verdict: the session is left alone")
        }

        /// Issue 14, section 3: SIGKILL cannot be taken like INT, so the options are guarded by
        /// a process of their own (ProbeGuard), which writes them back when myconn is gone.
        @Test("SIGKILL of probe while an unreachable client's options are turned up: its guardian writes them back, the session is left alone")
        func killedProbe() throws {
            let host = try TestHost()
            let server = try TestServer(extraArgs: ["--bind-address=127.0.0.1,::1,\(host.serverAddress)"])
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON *.* TO 'app'@'%'")
            let remote = try DemoClientsProcess(server: server, specs: ["tcp4:idle:3"], user: "app", password: "pw",
                                                netns: host.name, host4: host.serverAddress)
            usleep(1_200_000)  // idle for over a second: probed at once, not only watched
            for s in remote.sessions {
                let timer = try #require(try ProbeTests.keepaliveTimer(server: server, peer: s.local))
                #expect(timer.contains("min"), "the server's own keepalive: \(timer)")
            }
            try host.unplug()  // no ACK will come: the options stay turned up until a verdict (dead, about 4 s)
            let audit = server.dir.appendingPathComponent("audit.log").path
            for (k, s) in remote.sessions.enumerated() {
                let p = Process()
                p.executableURL = productsDir.appendingPathComponent("myconn")
                p.arguments = ["probe", "\(s.id)", "--yes", "--json", "--timeout", "15", "--audit-log", audit,
                               "--no-defaults", "-uroot", "-S", server.socketPath]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                // Turned up: the kernel's keepalive timer for the socket counts seconds now.
                var turnedUp: String?
                for _ in 0..<300 {
                    if let t = try ProbeTests.keepaliveTimer(server: server, peer: s.local), !t.contains("min") { turnedUp = t; break }
                    usleep(10_000)
                }
                #expect(turnedUp != nil, "session \(s.id): the probe's options never showed")
                usleep(UInt32(k) * 400_000)
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                #expect(p.terminationReason == .uncaughtSignal, "session \(s.id): myconn was killed mid-probe")
                for _ in 0..<200 where !runningHelpers(named: "myconn-guard").isEmpty { usleep(10_000) }
                #expect(runningHelpers(named: "myconn-guard").isEmpty, "the guardian left")
                let after = try ProbeTests.keepaliveTimer(server: server, peer: s.local)
                #expect(after?.contains("min") == true, "session \(s.id): turned up \(turnedUp ?? "-"), after the kill \(after ?? "none")")
                #expect(try server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = \(s.id)") == "1\n",
                        "session \(s.id): killed before a verdict, the session is left alone")
            }
        }

        @Test("a signal at any moment of kill, kill --query or close: either nothing was done and nothing recorded, or intent and outcome are both in the audit log")
        func signalRace() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:16"])
            let audit = server.dir.appendingPathComponent("audit.log").path
            let commands = [["kill"], ["kill", "--query"], ["close"], ["close", "--method", "pidfd"]]
            let signals = [SIGINT, SIGTERM, SIGHUP]
            var acted = 0
            for (i, s) in clients.sessions.enumerated() {
                let (r, signalled) = try myconnSignalled(commands[i % 4] + ["\(s.id)", "--yes", "--json", "--audit-log", audit,
                                                                             "--no-defaults", "-uroot", "-S", server.socketPath],
                                                         after: UInt32(4 + 2 * i), signal: signals[i % 3])
                let phases = try auditRecords(audit).filter { $0["session_id"] as? Int == Int(s.id) }.map { $0["phase"] as? String }
                // Never half a record: both lines, or (ended by the signal before acting) none.
                #expect(phases == [] || phases == ["intent", "outcome"], "run \(i): \(phases)")
                if phases.isEmpty {
                    #expect(signalled, "run \(i): myconn ended without acting only because of the signal: \(r.stderr)")
                    #expect(try server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = \(s.id)") == "1\n",
                            "run \(i): nothing was done")
                } else {
                    // Acted: the outcome was printed whole (a signal after it may still end myconn).
                    #expect(signalled || [0, 13].contains(r.status), "run \(i): status \(r.status): \(r.stderr)")
                    #expect((try? parseJSON(r.stdout))?["targets"] as? [Any] != nil, "run \(i): the outcome was printed: \(r.stdout)")
                    acted += 1
                }
            }
            #expect(acted > 0, "some runs reached the action")
        }

        @Test("an audit write that fails stops the action: /dev/full (ENOSPC) and /proc/version (EIO) give status 10, nothing is done",
              arguments: ["/dev/full", "/proc/version"])
        func auditWriteFails(log: String) throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2"])
            for args in [["kill", "\(clients.sessions[0].id)"], ["close", "\(clients.sessions[1].id)"]] {
                let r = try myconn(args + ["--yes", "--json", "--audit-log", log, "--no-defaults", "-uroot", "-S", server.socketPath])
                expectOneLineFailure(r, status: 10, mentioning: ["cannot write the audit log", "nothing was done"])
            }
            let present = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) }
            for s in clients.sessions { #expect(present.contains(s.id), "session \(s.id) untouched") }
            #expect(clients.finish().values.allSatisfy { $0.errorCode == nil })
        }
    }
}
