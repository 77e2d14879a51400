import Foundation
import Testing

/// A `mariadb` client kept open with statements fed to its stdin: a session holding an InnoDB
/// transaction while its client sleeps (the pager incident `--trx-time` is for).
final class SQLClientProcess {
    let process = Process()
    let stdin = Pipe()
    let stdout = Pipe()
    private(set) var id: UInt64 = 0

    init(server: TestServer, statements: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mariadb")
        process.arguments = ["--no-defaults", "-uroot", "-h127.0.0.1", "-P\(server.port)", "-N", "-B", "--unbuffered"]
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data("\(statements)\nSELECT CONNECTION_ID();\n".utf8))
        var text = ""
        let deadline = Date().addingTimeInterval(10)
        let fd = stdout.fileHandleForReading.fileDescriptor
        while !text.contains("\n"), Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 256)
            let n = read(fd, &buf, buf.count)
            guard n > 0 else { break }
            text += String(decoding: buf[0..<n], as: UTF8.self)
        }
        guard let id = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw TestFailure("no connection id: \(text)") }
        self.id = id
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

extension RealServer {
    /// `reap`'s rules on a real server with sessions idle, busy, in a long transaction,
    /// client-gone and from two users: `reap --print` picks exactly the sessions expected, and
    /// for the processlist-only rules the ones `pt-kill --print` picks in the same test.
    @Suite("reap: rules (AND) vs the expected sessions and vs pt-kill --print")
    struct ReapRuleTests {
        /// The sessions `reap --print` chose in one cycle.
        static func reapPicks(_ server: TestServer, _ rules: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Set<UInt64> {
            let r = try myconn(["reap", "--print", "--cycles", "1", "--victims", "all", "--json"] + rules
                               + ["--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "reap \(rules): \(r.stderr)", sourceLocation: sourceLocation)
            return Set(try r.stdout.split(separator: "\n").map { try parseJSON(String($0)) }
                .filter { $0["decision"] as? String == "matched" }.compactMap { ($0["session_id"] as? Int).map(UInt64.init) })
        }

        /// The sessions one pass of pt-kill chose (`# <time> KILL <id> (...)` lines).
        static func ptKillPicks(_ server: TestServer, _ rules: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Set<UInt64> {
            try ptKillPicks(["--socket", server.socketPath, "--user", "root", "--run-time", "1", "--interval", "1"], rules, sourceLocation: sourceLocation)
        }

        /// The sessions pt-kill chose from a processlist file (its `--test-matching`).
        static func ptKillPicks(_ file: String, _ rules: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Set<UInt64> {
            try ptKillPicks(["--test-matching", file], rules, sourceLocation: sourceLocation)
        }

        static func ptKillPicks(_ source: [String], _ rules: [String], sourceLocation: SourceLocation) throws -> Set<UInt64> {
            let r = try run("/usr/bin/pt-kill", ["--noversion-check", "--print", "--victims", "all"] + source + rules)
            #expect(r.status == 0, "pt-kill \(rules): \(r.stderr)", sourceLocation: sourceLocation)
            let kill = try Regex(#"KILL (\d+) "#)
            return Set(r.stdout.split(separator: "\n").compactMap { line in
                (try? kill.firstMatch(in: String(line))).flatMap { UInt64(String($0.output[1].substring ?? "")) }
            })
        }

        @Test("rule combinations: reap picks exactly the expected sessions; on processlist rules pt-kill picks the same, except where its OR differs (shown)")
        func rulesAgainstPtKill() throws {
            let server = try TestServer(extraArgs: ["--performance-schema=ON"])
            try server.sql("""
                CREATE DATABASE appdb; CREATE TABLE appdb.t (i int PRIMARY KEY) ENGINE=InnoDB; INSERT INTO appdb.t VALUES (1);
                CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON appdb.* TO 'app'@'%'
                """)
            let app = try DemoClientsProcess(server: server, specs: ["tcp4:idle:3"], user: "app", password: "pw", database: "appdb",
                                             program: "billing")
            let root = try DemoClientsProcess(server: server, specs: ["tcp6:idle:1", "tcp4:busy:1"], sleepSeconds: 600)
            let trx = try SQLClientProcess(server: server, statements: "BEGIN; UPDATE appdb.t SET i = i + 1;")
            defer { withExtendedLifetime((app, root, trx)) {} }
            let apps = Set(app.sessions.map(\.id))
            let rootIdle = root.sessions[0].id, busy = root.sessions[1].id
            // Every session at least 3 s old in its state, so that the 2 s thresholds hold for all.
            sleep(3)

            // Processlist rules: reap's pick is the expected one, and pt-kill's is the same.
            let same: [([String], Set<UInt64>)] = [
                (["--busy-time", "2"], [busy]),
                (["--idle-time", "2"], apps.union([rootIdle, trx.id])),
                (["--idle-time", "2", "--match-user", "app"], apps),
                (["--match-command", "Sleep", "--ignore-user", "app"], [rootIdle, trx.id]),
                (["--match-info", "SLEEP", "--busy-time", "2"], [busy]),
                (["--idle-time", "2", "--group-by", "user", "--query-count", "3"], apps),
                (["--idle-time", "2", "--match-db", "appdb"], apps),
                (["--busy-time", "2", "--ignore-host", "127.0.0.1"], []),
            ]
            for (rules, expected) in same {
                #expect(try Self.reapPicks(server, rules) == expected, "reap \(rules)")
                #expect(try Self.ptKillPicks(server, rules) == expected, "pt-kill \(rules)")
            }
            // pt-kill's OR: --busy-time says nothing of a Sleep row, so --match-user alone picks
            // app's idle sessions; reap's rules all hold, and app runs no statement.
            #expect(try Self.ptKillPicks(server, ["--busy-time", "2", "--match-user", "app"]) == apps)
            #expect(try Self.reapPicks(server, ["--busy-time", "2", "--match-user", "app"]) == [])
            // Rules pt-kill has no words for. A client that leaves mid-query: its socket is in
            // CLOSE_WAIT at once (mariadbd's SLEEP notices within its 5 s slice, so look now).
            let left = try DemoClientsProcess(server: server, specs: ["tcp4:abandon:1"], sleepSeconds: 600)
            defer { withExtendedLifetime(left) {} }
            let gone = left.sessions[0].id
            usleep(200_000)
            #expect(try Self.reapPicks(server, ["--zombie", "client-gone"]) == [gone])
            #expect(try Self.reapPicks(server, ["--zombie", "client-gone", "--match-user", "app"]) == [])
            #expect(try Self.reapPicks(server, ["--trx-time", "2"]) == [trx.id])
            #expect(try Self.reapPicks(server, ["--trx-time", "2", "--match-user", "app"]) == [])
            #expect(try Self.reapPicks(server, ["--idle-since-recv", "2", "--match-user", "app"]) == apps)
            #expect(try Self.reapPicks(server, ["--idle-since-recv", "600"]) == [])
            #expect(try Self.reapPicks(server, ["--program", "billing"]) == apps)
            #expect(try Self.reapPicks(server, ["--idle-time", "2", "--ignore-program", "/^bill/"]) == [rootIdle, trx.id])
            // --victims oldest (the default): one per class, the oldest; ties go to the lowest id.
            let oldest = try myconn(["reap", "--print", "--cycles", "1", "--idle-time", "2", "--match-user", "app", "--json",
                                     "--no-defaults", "-uroot", "-S", server.socketPath])
            let lines = oldest.stdout.split(separator: "\n")
            let first = try lines.first.map { try parseJSON(String($0)) }
            #expect(lines.count == 1 && apps.contains(UInt64(first?["session_id"] as? Int ?? 0)), "\(oldest.stdout)")
            let present = Set(try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) })
            #expect(present.isSuperset(of: apps.union([rootIdle, busy, trx.id])), "--print touches nothing")
        }

        @Test("a rules file is the same rules; bad rules and bad files are one-line usage errors (64)")
        func rulesFile() throws {
            let server = try TestServer()
            let root = try DemoClientsProcess(server: server, specs: ["tcp4:busy:1", "tcp4:idle:1"], sleepSeconds: 600)
            defer { withExtendedLifetime(root) {} }
            sleep(2)
            let file = server.dir.appendingPathComponent("reap.rules")
            try "# pt-kill style: one option per line\nbusy-time 1\n--match-info=SLEEP\nvictims all\n".write(to: file, atomically: true, encoding: .utf8)
            let r = try myconn(["reap", "--print", "--cycles", "1", "--rules", file.path, "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.split(separator: "\n").compactMap { (try? parseJSON(String($0)))?["session_id"] as? Int } == [Int(root.sessions[0].id)])
            try "busy-time soon\n".write(to: file, atomically: true, encoding: .utf8)
            let bad = try myconn(["reap", "--print", "--cycles", "1", "--rules", file.path, "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(bad.status == 64 && bad.stderr.split(separator: "\n").count == 1 && bad.stderr.contains("reap.rules"), "\(bad.stderr)")
            let both = try myconn(["reap", "--print", "--rules", file.path, "--busy-time", "1"])
            #expect(both.status == 64 && both.stderr.contains("not both"), "\(both.stderr)")
            let none = try myconn(["reap", "--print"])
            #expect(none.status == 64 && none.stderr.contains("at least one rule"), "\(none.stderr)")
            let unasked = try myconn(["reap", "--kill", "--busy-time", "1", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(unasked.status == 64 && unasked.stderr.contains("--yes"), "\(unasked.stderr)")
        }
    }
}
