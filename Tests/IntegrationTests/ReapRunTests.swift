import Foundation
import Testing

extension RealServer {
    /// `reap` as it runs for hours: SIGHUP reads the rules again, the kernel-only view when SQL
    /// is refused, and `--probe` dropping only the clients whose host is gone.
    @Suite("reap: SIGHUP, no SQL, and --probe on dead peers")
    struct ReapRunTests {
        @Test("SIGHUP reads --rules FILE again; a bad file keeps the rules and says so; TERM ends the run with 0")
        func sighupReloads() throws {
            let server = try TestServer()
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT USAGE ON *.* TO 'app'@'%'")
            let app = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"], user: "app", password: "pw")
            let root = try DemoClientsProcess(server: server, specs: ["tcp4:busy:1"], sleepSeconds: 600)
            defer { withExtendedLifetime((app, root)) {} }
            let rules = server.dir.appendingPathComponent("reap.rules")
            try "busy-time 0\n".write(to: rules, atomically: true, encoding: .utf8)
            let out = server.dir.appendingPathComponent("reap.out"), err = server.dir.appendingPathComponent("reap.err")
            for f in [out, err] { _ = FileManager.default.createFile(atPath: f.path, contents: nil) }
            let p = Process()
            p.executableURL = productsDir.appendingPathComponent("myconn")
            p.arguments = ["reap", "--print", "--rules", rules.path, "--interval", "0.2", "--json", "--no-defaults", "-uroot", "-S", server.socketPath]
            p.standardOutput = try FileHandle(forWritingTo: out)
            p.standardError = try FileHandle(forWritingTo: err)
            p.standardInput = FileHandle.nullDevice
            try p.run()
            defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
            func picks() throws -> [Int: Set<Int>] {
                var byCycle: [Int: Set<Int>] = [:]
                let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
                for line in text.split(separator: "\n") {
                    let d = try parseJSON(String(line))
                    if let c = d["cycle"] as? Int, let id = d["session_id"] as? Int { byCycle[c, default: []].insert(id) }
                }
                return byCycle
            }
            func lastCycle() throws -> Int { try picks().keys.max() ?? 0 }
            func waitCycles(after n: Int) throws { for _ in 0..<100 where try lastCycle() < n + 3 { usleep(50_000) } }
            try waitCycles(after: 0)
            let before = try lastCycle()
            #expect(try picks()[before] == [Int(root.sessions[0].id)], "busy-time 0: the busy session")
            try "# now the idle one\nidle-time 0\nmatch-user app\n".write(to: rules, atomically: true, encoding: .utf8)
            kill(p.processIdentifier, SIGHUP)
            try waitCycles(after: before + 1)
            let after = try lastCycle()
            #expect(try picks()[after] == [Int(app.sessions[0].id)], "after HUP: the new rules")
            try "idle-time never\n".write(to: rules, atomically: true, encoding: .utf8)
            kill(p.processIdentifier, SIGHUP)
            try waitCycles(after: after + 1)
            #expect(try picks()[try lastCycle()] == [Int(app.sessions[0].id)], "a bad file keeps the rules")
            let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            #expect(stderr.contains("SIGHUP: rules read again") && stderr.contains("the rules stay as they were"), "\(stderr)")
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0 && p.terminationReason == .exit, "TERM: exit 0")
        }

        @Test("--run-time: cycles every --interval from the start, none starting after the run-time; exit 0")
        func runTime() throws {
            let server = try TestServer()
            let root = try DemoClientsProcess(server: server, specs: ["tcp4:busy:1"], sleepSeconds: 600)
            defer { withExtendedLifetime(root) {} }
            let started = Date()
            let r = try myconn(["reap", "--print", "--busy-time", "0", "--interval", "0.5", "--run-time", "2", "--json",
                                "--no-defaults", "-uroot", "-S", server.socketPath])
            let elapsed = Date().timeIntervalSince(started)
            #expect(r.status == 0, "\(r.stderr)")
            let cycles = try r.stdout.split(separator: "\n").compactMap { try parseJSON(String($0))["cycle"] as? Int }
            // Cycles start at 0, 0.5, 1 and 1.5 s; the next would start at 2 s, the end of the run.
            #expect(cycles == [1, 2, 3, 4], "\(r.stdout)")
            // Process start and login on a loaded machine come on top of the 1.5 s of cycles.
            #expect(elapsed >= 1.5 && elapsed < 4, "ran \(elapsed) s")
        }

        @Test("no SQL (Too many connections): socket rules still choose from the kernel's view, and --close cuts exactly the one named")
        func kernelOnly() throws {
            let server = try TestServer(extraArgs: ["--max-connections=10"])
            try server.sql("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'pw'; CREATE USER 'app'@'localhost' IDENTIFIED BY 'pw'")
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:10"], user: "app", password: "pw")
            defer { withExtendedLifetime(clients) {} }
            sleep(2)
            let login = ["--no-defaults", "-uapp", "-ppw", "-h127.0.0.1", "-P\(server.port)"]
            let seen = try myconn(["reap", "--print", "--idle-since-recv", "1", "--victims", "all", "--cycles", "1", "--json"] + login)
            #expect(seen.status == 0 && seen.stderr.contains("kernel alone"), "\(seen.stderr)")
            let peers = Set(try seen.stdout.split(separator: "\n").compactMap { try parseJSON(String($0))["peer"] as? String })
            #expect(peers == Set(clients.sessions.map(\.local)), "every client's socket, from the kernel")
            // Rules that need the processlist are not judged without it.
            let sql = try myconn(["reap", "--print", "--idle-time", "1", "--cycles", "1"] + login)
            #expect(sql.status == 4 && sql.stdout.isEmpty, "\(sql.stderr)")
            let victim = clients.sessions[3].local
            let audit = server.dir.appendingPathComponent("audit.log").path
            let r = try myconn(["reap", "--close", "--client", victim, "--idle-since-recv", "1", "--cycles", "1", "--yes", "--json",
                                "--audit-log", audit] + login)
            #expect(r.status == 0, "\(r.stderr)")
            let acted = try r.stdout.split(separator: "\n").map { try parseJSON(String($0)) }.filter { $0["decision"] as? String == "acted" }
            #expect(acted.count == 1 && acted.first?["peer"] as? String == victim && acted.first?["session_id"] is NSNull, "\(r.stdout)")
            // The slot it freed takes a login again.
            var loggedIn = false
            for _ in 0..<50 where !loggedIn {
                loggedIn = try run("/usr/bin/mariadb", ["--no-defaults", "-uapp", "-ppw", "-h127.0.0.1", "-P\(server.port)", "-N", "-B", "-e", "SELECT 1"])
                    .stdout == "1\n"
                if !loggedIn { usleep(100_000) }
            }
            #expect(loggedIn, "a login works after the cut")
            let left = Set(try server.sql("SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = 'app'").split(separator: "\n").map(String.init))
            #expect(left.count == 9 && !left.contains(victim), "the other nine are untouched: \(left)")
        }

        @Test("--probe: on a test host whose link is down the idle client is found dead and dropped; the live one is left")
        func probeDropsOnlyDead() throws {
            let host = try TestHost()
            let server = try TestServer(extraArgs: ["--bind-address=127.0.0.1,::1,\(host.serverAddress)"])
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT USAGE ON *.* TO 'app'@'%'")
            let remote = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"], user: "app", password: "pw",
                                                netns: host.name, host4: host.serverAddress)
            let local = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"], user: "app", password: "pw")
            defer { withExtendedLifetime((remote, local)) {} }
            let dead = remote.sessions[0].id, live = local.sessions[0].id
            sleep(2)
            try host.unplug()
            let r = try myconn(["reap", "--probe", "--match-user", "app", "--idle-time", "1", "--victims", "all", "--cycles", "1",
                                "--probe-timeout", "15", "--yes", "--json", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                                "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            let acted = try r.stdout.split(separator: "\n").map { try parseJSON(String($0)) }.filter { $0["decision"] as? String == "acted" }
            func verdict(_ id: UInt64) -> String? {
                (acted.first { $0["session_id"] as? Int == Int(id) }?["outcome"] as? [String: Any])?["verdict"] as? String
            }
            #expect(verdict(dead) == "dead" && verdict(live) == "alive", "\(r.stdout)")
            let present = Set(try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) })
            #expect(!present.contains(dead) && present.contains(live), "only the dead peer is dropped")
        }
    }
}
