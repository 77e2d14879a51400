import Foundation
import Testing

extension RealServer {
    @Suite("the action pipeline's promises: lingering sessions, --kill-after, duplicates, the prompt, empty selections")
    struct PipelineTargetTests {
        func act(_ server: TestServer, _ args: [String]) throws -> RunResult {
            try myconn(args + ["--yes", "--json", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                               "--no-defaults", "-uroot", "-S", server.socketPath])
        }

        @Test("close exits 8 while the cut session is still busy in the server; --kill-after ends it at once, and its client saw a network failure")
        func lingeringSession() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:secret:2"], sleepSeconds: 10)
            let (a, b) = (clients.sessions[0].id, clients.sessions[1].id)
            usleep(200_000)
            let plain = try act(server, ["close", "\(a)", "--wait", "1"])
            #expect(plain.status == 8, "\(plain.stderr)")
            let pt = try #require((try parseJSON(plain.stdout)["targets"] as? [[String: Any]])?.first)
            #expect(pt["outcome"] as? String == "done" && pt["session_gone"] as? Bool == false)
            #expect(plain.stderr.contains("--kill-after"), "the message says what to do: \(plain.stderr)")

            let start = nowMs()
            let killed = try act(server, ["close", "\(b)", "--kill-after", "--wait", "3"])
            #expect(killed.status == 0, "\(killed.stderr)")
            let kt = try #require((try parseJSON(killed.stdout)["targets"] as? [[String: Any]])?.first)
            #expect(kt["session_gone"] as? Bool == true && kt["kill_sent"] as? Bool == true, "\(kt)")
            #expect(nowMs() - start < 2000, "gone at once, not after SLEEP's next look at its socket")
            let summaries = clients.finish()
            #expect(["2013", "2006"].contains(summaries[b]?.errorCode ?? ""),
                    "the client saw a lost connection, not the server's 'killed' error: \(summaries[b]?.errorCode ?? "-")")
        }

        @Test("a target named twice is acted on once: close V V, kill V V, --peer and --fd naming one socket; --peer needs no --pid when SQL finds mysqld")
        func duplicates() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:3"])
            let s = clients.sessions
            let close = try act(server, ["close", "\(s[0].id)", "\(s[0].id)"])
            #expect(close.status == 0, "\(close.stderr)")
            #expect((try parseJSON(close.stdout)["targets"] as? [Any])?.count == 1)
            let kill = try act(server, ["kill", "\(s[1].id)", "\(s[1].id)"])
            #expect(kill.status == 0, "\(kill.stderr)")
            #expect((try parseJSON(kill.stdout)["targets"] as? [Any])?.count == 1)
            let list = try parseJSON(try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath]).stdout)
            let row = try #require((list["sessions"] as? [[String: Any]])?.first { $0["id"] as? Int == Int(s[2].id) })
            let fd = try #require(row["fd"] as? Int)
            // No --pid: mysqld's pid comes through SQL, the targets from the kernel.
            let both = try act(server, ["close", "--peer", s[2].local, "--fd", "\(fd)", "--dry-run"])
            #expect(both.status == 0, "\(both.stderr)")
            let targets = try #require(try parseJSON(both.stdout)["targets"] as? [[String: Any]])
            #expect(targets.count == 1 && targets.first?["fd"] as? Int == fd)
            #expect((targets.first?["mysqld_pid"] as? Int) == Int(server.pid))
            let summaries = clients.finish()
            #expect(summaries[s[2].id]?.errorCode == nil, "a dry run touches nothing")
        }

        @Test("--json prints an object when nothing matched; 'n' at the prompt is status 12 and nothing is done")
        func emptyAndDeclined() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"])
            for command in ["close", "probe", "kill"] {
                let r = try act(server, [command, "--zombie", "client-gone"])
                #expect(r.status == 0, "\(command): \(r.stderr)")
                let json = try parseJSON(r.stdout)
                #expect((json["targets"] as? [Any])?.isEmpty == true, "\(command): \(r.stdout)")
            }
            // A terminal that answers "n": script(1) gives myconn a pty as its standard input.
            let id = clients.sessions[0].id
            let line = ([productsDir.appendingPathComponent("myconn").path, "close", "\(id)", "--no-defaults", "-uroot",
                         "-S", server.socketPath, "--audit-log", server.dir.appendingPathComponent("audit.log").path]
                .map { "'\($0)'" }).joined(separator: " ")
            let declined = try run("/bin/sh", ["-c", "printf 'n\\n' | script -qec \"\(line)\" /dev/null"])
            #expect(declined.status == 12, "status \(declined.status): \(declined.stdout) \(declined.stderr)")
            #expect(declined.stdout.contains("not confirmed"), "\(declined.stdout)")
            #expect(clients.finish()[id]?.errorCode == nil, "not confirmed: nothing done")
        }
    }
}
