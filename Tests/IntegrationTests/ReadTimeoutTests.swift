import Foundation
import Testing

extension RealServer {
    /// Promise 4 of issue 8: a server that stops answering after the login does not leave
    /// myconn in poll(2) forever.
    ///
    /// Made deterministic without a hook in the product: myconn runs under strace, which
    /// delays the entry of its second sendto (the first is the login's reply to the greeting,
    /// the second the first query) by `hold` seconds. Meanwhile the test sees the login
    /// complete (the session in the processlist, as user `lister`) and SIGSTOPs mariadbd; only
    /// then does the query leave, to a server that cannot answer. strace follows the main thread
    /// only (no -f): the kernel-only fallback's threads run undelayed.
    @Suite("--read-timeout: a server wedged after the login")
    struct ReadTimeoutTests {
        struct Wedged {
            var status: Int32
            var stdout: String
            var stderr: String
            var elapsed: Double
        }

        /// Runs `myconn args` as user lister over the unix socket, and stops mariadbd between its
        /// login and its first query; mariadbd is continued before this returns.
        func runWedged(_ server: TestServer, _ args: [String], hold: Double) throws -> Wedged {
            try server.sql("CREATE USER 'lister'@'localhost'; GRANT ALL ON *.* TO 'lister'@'localhost'")
            let out = server.dir.appendingPathComponent("wedged.out"), err = server.dir.appendingPathComponent("wedged.err")
            for f in [out, err] { FileManager.default.createFile(atPath: f.path, contents: nil) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
            p.arguments = ["-o", "/dev/null", "-e", "trace=sendto", "-e", "inject=sendto:delay_enter=\(Int(hold * 1_000_000)):when=2",
                           productsDir.appendingPathComponent("myconn").path] + args + ["--no-defaults", "-ulister", "-S", server.socketPath]
            p.standardOutput = try FileHandle(forWritingTo: out)
            p.standardError = try FileHandle(forWritingTo: err)
            p.standardInput = FileHandle.nullDevice
            let started = Date()
            try p.run()
            var loggedIn = false
            while !loggedIn && Date().timeIntervalSince(started) < hold {
                loggedIn = try server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER='lister'")
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
                if !loggedIn { usleep(10_000) }
            }
            kill(server.pid, SIGSTOP)
            defer { kill(server.pid, SIGCONT) }
            let stoppedAt = Date().timeIntervalSince(started)
            try #require(loggedIn, "myconn logged in before its first query left")
            try #require(stoppedAt < hold, "mariadbd stopped before the query was sent (\(stoppedAt) s)")
            p.waitUntilExit()
            return Wedged(status: p.terminationStatus,
                          stdout: String(decoding: (try? Data(contentsOf: out)) ?? Data(), as: UTF8.self),
                          stderr: String(decoding: (try? Data(contentsOf: err)) ?? Data(), as: UTF8.self),
                          elapsed: Date().timeIntervalSince(started))
        }

        @Test("list falls back to the kernel-only view within read-timeout + a margin, with one warning")
        func listFallsBack() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "unix:idle:1"])
            let hold = 2.0, readTimeout = 2.0
            let r = try runWedged(server, ["list", "--json", "--read-timeout", "\(Int(readTimeout))"], hold: hold)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.elapsed >= hold + readTimeout - 0.2, "it waited out the deadline: \(r.elapsed) s")
            #expect(r.elapsed < hold + readTimeout + 3, "ended within read-timeout + a margin: \(r.elapsed) s")
            #expect(r.stderr.split(separator: "\n").count == 1, "one warning: \(r.stderr)")
            #expect(r.stderr.contains("the server stopped answering (no reply within --read-timeout 2 s"), "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            let serverView = try #require(json["server"] as? [String: Any])
            #expect(serverView["sql"] as? Bool == false)
            #expect(serverView["pid"] as? Int == Int(server.pid))
            // The kernel view still has the clients' connections, though mariadbd is stopped.
            let peers = Set(((json["unmatched_sockets"] as? [[String: Any]]) ?? []).compactMap { $0["peer"] as? String })
            for c in clients.sessions where c.transport == "tcp4" { #expect(peers.contains(c.local), "\(c.local) listed") }
        }

        @Test("zombies, which has no kernel-only view, ends with one line and status 2")
        func zombiesFails() throws {
            let server = try TestServer()
            let r = try runWedged(server, ["zombies", "--read-timeout", "1"], hold: 2)
            expectOneLineFailure(RunResult(status: r.status, stdout: r.stdout, stderr: r.stderr), status: 2,
                                 mentioning: ["the server stopped answering", "--read-timeout"])
            #expect(r.elapsed < 2 + 1 + 3, "\(r.elapsed) s")
        }
    }
}
