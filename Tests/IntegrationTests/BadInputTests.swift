import Foundation
import Testing

/// A failure is exactly one line on stderr, starting `myconn:`, with the documented status.
func expectOneLineFailure(_ r: RunResult, status: Int32, mentioning words: [String],
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == status, "status \(r.status), stderr: \(r.stderr)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1, "one line, got: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(lines.first?.hasPrefix("myconn: ") == true, sourceLocation: sourceLocation)
    for w in words {
        #expect(r.stderr.contains(w), "'\(w)' in: \(r.stderr)", sourceLocation: sourceLocation)
    }
    #expect(r.stdout.isEmpty, "nothing half-printed: \(r.stdout)", sourceLocation: sourceLocation)
}

extension RealServer {
    @Suite("Bad input: one line, a documented exit status, no stack trace")
    struct BadInputTests {
        @Test("unknown host (looked up in an empty network namespace from /etc/hosts only: no query leaves)")
        func unknownHost() throws {
            let bin = productsDir.appendingPathComponent("myconn").path
            // hosts: files only, in a private mount namespace: the name is looked up without DNS.
            let nss = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-nsswitch-\(getpid())")
            try "hosts: files\n".write(to: nss, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: nss) }
            let r = try run("/usr/bin/unshare", ["--net", "--mount", "/bin/sh", "-c",
                                                 "mount --bind \"$0\" /etc/nsswitch.conf && exec \"$@\"", nss.path,
                                                 bin, "list", "--no-defaults", "-uroot", "-h", "no-such-host.invalid"])
            expectOneLineFailure(r, status: 2, mentioning: ["unknown host 'no-such-host.invalid'"])
        }

        @Test("wrong password, and a user without PROCESS (warned, still listed)")
        func credentials() throws {
            let server = try TestServer()
            try server.sql("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'secret'")
            expectOneLineFailure(try myconn(["list", "--no-defaults", "-uapp", "-pwrong", "-h127.0.0.1", "-P\(server.port)"]),
                                 status: 3, mentioning: ["login refused", "Access denied"])
            let ok = try myconn(["list", "--json", "--no-defaults", "-uapp", "-psecret", "-h127.0.0.1", "-P\(server.port)"])
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(ok.stderr.contains("without the PROCESS privilege the processlist shows only this user's own sessions"))
            #expect(try parseJSON(ok.stdout)["sessions"] is [Any])
        }

        @Test("--pid of a process that is not mysqld, and of one that is gone")
        func wrongPID() throws {
            let server = try TestServer()
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
            sleeper.arguments = ["30"]
            try sleeper.run()
            defer { kill(sleeper.processIdentifier, SIGKILL); sleeper.waitUntilExit() }
            expectOneLineFailure(try myconn(["list", "--no-defaults", "-uroot", "-S", server.socketPath, "--pid", "\(sleeper.processIdentifier)"]),
                                 status: 5, mentioning: ["pid \(sleeper.processIdentifier) (sleep) is not the mysqld", "--pid"])
            let gone = Process()
            gone.executableURL = URL(fileURLWithPath: "/bin/true")
            try gone.run()
            gone.waitUntilExit()
            expectOneLineFailure(try myconn(["list", "--no-defaults", "-uroot", "-S", server.socketPath, "--pid", "\(gone.processIdentifier)"]),
                                 status: 5, mentioning: ["no process has pid \(gone.processIdentifier)"])
            let right = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath, "--pid", "\(server.pid)"])
            #expect(right.status == 0, "the right pid is accepted: \(right.stderr)")
        }

        @Test("no permission to read mysqld's fds (run as nobody): sessions still listed, fd null with the reason, status 6")
        func noPermission() throws {
            // A second mariadbd in the same network namespace, a few seconds older: without
            // descriptors, only the server's own Uptime tells the two apart.
            let decoy = try TestServer()
            sleep(4)
            let server = try TestServer()
            try server.sql("CREATE USER 'ops'@'127.0.0.1' IDENTIFIED BY 'pw'; GRANT PROCESS ON *.* TO 'ops'@'127.0.0.1'")
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "unix:idle:1"])
            // A copy nobody can execute (the build tree may sit under a private home).
            let copy = server.dir.appendingPathComponent("myconn").path
            try FileManager.default.copyItem(atPath: productsDir.appendingPathComponent("myconn").path, toPath: copy)
            chmod(copy, 0o755)
            let r = try run("/usr/sbin/runuser", ["-u", "nobody", "--", copy, "list", "--json", "--no-defaults",
                                                  "-uops", "-ppw", "-h127.0.0.1", "-P\(server.port)"])
            #expect(r.status == 6, "status \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("fd unknown: no permission to read /proc/\(server.pid)/fd"), "\(r.stderr)")
            let json = try parseJSON(r.stdout)
            #expect((json["server"] as? [String: Any])?["pid"] as? Int == Int(server.pid), "not the decoy \(decoy.pid)")
            let sessions = try #require(json["sessions"] as? [[String: Any]])
            let oracle = try Oracle(server: server)
            for c in clients.sessions {
                let s = try #require(sessions.first { $0["id"] as? Int == Int(c.id) })
                #expect(s["fd"] is NSNull)
                #expect((s["unresolved"] as? String)?.contains("no permission") == true)
                if c.transport == "tcp4" {
                    #expect((s["inode"] as? Int).map(UInt64.init) == oracle.serverEnd(of: c)?.inode, "the inode still comes from net/tcp")
                }
            }
        }
    }
}

/// The bad-input cases that need neither root nor a server: they run in every test run.
@Suite("Bad input without a server: one line, a documented exit status (no root)")
struct BadInputWithoutServerTests {
    @Test("server down: no socket file, and a closed port")
    func serverDown() throws {
        let dir = FileManager.default.temporaryDirectory.path
        expectOneLineFailure(try myconnUnpiped(["list", "--no-defaults", "-uroot", "-S", "\(dir)/myconn-no-such.sock"]),
                             status: 2, mentioning: ["cannot reach the server", "-S"])
        expectOneLineFailure(try myconnUnpiped(["list", "--no-defaults", "-uroot", "-h127.0.0.1", "-P\(freePort())"]),
                             status: 2, mentioning: ["cannot reach the server"])
    }

    @Test("argument errors: -p with no terminal, a bad port, an unknown option")
    func arguments() throws {
        expectOneLineFailure(try myconnUnpiped(["list", "--no-defaults", "-uroot", "-p"]), status: 64, mentioning: ["terminal"])
        expectOneLineFailure(try myconnUnpiped(["list", "--port=99999"]), status: 64, mentioning: ["--port must be 1-65535"])
        expectOneLineFailure(try myconnUnpiped(["list", "--bogus"]), status: 64, mentioning: ["--bogus"])
        expectOneLineFailure(try myconnUnpiped(["list", "--pid", "0"]), status: 64, mentioning: ["--pid"])
    }

    @Test("action argument errors: --kill-after on sockets named by --peer, --pid 0 for kill, --raw-close with pidfd")
    func actionArguments() throws {
        expectOneLineFailure(try myconnUnpiped(["close", "--peer", "127.0.0.1:5000", "--kill-after", "--yes"]), status: 64,
                             mentioning: ["--kill-after", "session ids"])
        expectOneLineFailure(try myconnUnpiped(["kill", "--zombie", "client-gone", "--pid", "0", "--yes"]), status: 64, mentioning: ["--pid"])
        expectOneLineFailure(try myconnUnpiped(["close", "7", "--raw-close", "--method", "pidfd", "--yes"]), status: 64,
                             mentioning: ["--raw-close"])
        expectOneLineFailure(try myconnUnpiped(["close", "7", "--peer", "127.0.0.1:5000", "--yes"]), status: 64, mentioning: ["one of"])
    }

    @Test("reap argument errors: no action, two actions, no rule, a bad rule value, --method without --close, a bad --log-table, --test-matching with an action or a bad file")
    func reapArguments() throws {
        expectOneLineFailure(try myconnUnpiped(["reap", "--busy-time", "60"]), status: 64, mentioning: ["--print", "--kill"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--kill", "--close", "--busy-time", "60"]), status: 64, mentioning: ["one of"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--print"]), status: 64, mentioning: ["at least one rule"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--print", "--busy-time", "soon"]), status: 64, mentioning: ["--busy-time"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--print", "--group-by", "colour", "--busy-time", "1"]), status: 64, mentioning: ["--group-by"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--print", "--victims", "youngest", "--busy-time", "1"]), status: 64, mentioning: ["--victims"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--kill", "--method", "pidfd", "--busy-time", "1"]), status: 64, mentioning: ["--method"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--kill", "--log-table", "nodot", "--busy-time", "1"]), status: 64, mentioning: ["DB.TABLE"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--print", "--match-info", "(", "--busy-time", "1"]), status: 64, mentioning: ["regular expression"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--test-matching", "/nonexistent", "--kill", "--busy-time", "1"]), status: 64, mentioning: ["--test-matching"])
        expectOneLineFailure(try myconnUnpiped(["reap", "--test-matching", "/nonexistent", "--busy-time", "1"]), status: 64, mentioning: ["/nonexistent"])
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-garbage-\(UUID().uuidString)")
        try Data([0x1B, 0x5B, 0x32, 0x4A, 0x0A, 0x7B, 0x0A]).write(to: garbage)
        defer { try? FileManager.default.removeItem(at: garbage) }
        let r = try myconnUnpiped(["reap", "--test-matching", garbage.path, "--busy-time", "1"])
        expectOneLineFailure(r, status: 64, mentioning: ["--test-matching"])
        #expect(!r.stderr.utf8.contains(0x1B), "no raw control bytes reach the terminal")
    }
}
