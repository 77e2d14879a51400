import Foundation
import Testing

extension RealServer {
    @Suite("text set by clients and other users reaches the terminal escaped: list, zombies, the kill and close previews")
    struct TerminalEscapeTests {
        /// What a crafted value carries: SGR colour, clear screen, an OSC window title ended by BEL,
        /// a C1 CSI, and right-to-left override.
        static let hostile = "\u{1B}[31m\u{1B}[2J\u{1B}]0;owned\u{07}\u{9B}1m\u{202E}gnp"

        /// No byte that drives a terminal: C0 other than newline, DEL, C1, bidi controls.
        func expectClean(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let bad = text.unicodeScalars.filter { s in
                (s.value < 0x20 && s != "\n") || (0x7F...0x9F).contains(s.value)
                    || [0x061C, 0x200E, 0x200F].contains(s.value) || (0x202A...0x202E).contains(s.value) || (0x2066...0x2069).contains(s.value)
            }
            #expect(bad.isEmpty, "\(what) carries raw control characters \(bad.map { String($0.value, radix: 16) })", sourceLocation: sourceLocation)
        }

        @Test("INFO, USER and a client's process name with escape sequences are shown as \\x1B…; JSON keeps the exact text")
        func escaped() throws {
            let server = try TestServer()
            let user = "u\u{1B}[31m"
            try server.sql("CREATE USER '\(user)'@'%'; GRANT USAGE ON *.* TO '\(user)'@'%'")
            // A client program whose name (comm) is a sequence too: any local user can name a binary so.
            let bin = server.dir.appendingPathComponent("\u{1B}[2Jcli")
            try FileManager.default.copyItem(atPath: "/usr/bin/mariadb", toPath: bin.path)
            let client = Process()
            client.executableURL = bin
            // Over TCP, so that its socket, and the client process at the other end, are proven.
            client.arguments = ["--no-defaults", "-u", user, "--protocol=tcp", "-h", "127.0.0.1", "-P", "\(server.port)", "-N",
                                "-e", "SELECT SLEEP(30), '\(Self.hostile)'"]
            client.standardOutput = FileHandle.nullDevice
            client.standardError = FileHandle.nullDevice
            client.standardInput = FileHandle.nullDevice
            try client.run()
            defer { kill(client.processIdentifier, SIGKILL); client.waitUntilExit() }
            var id: UInt64?
            for _ in 0..<100 where id == nil {
                id = UInt64(try server.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%owned%' AND INFO NOT LIKE '%PROCESSLIST%'")
                    .split(separator: "\n").first ?? "")
                if id == nil { usleep(50_000) }
            }
            let sid = try #require(id)
            let base = ["--no-defaults", "-uroot", "-S", server.socketPath]

            let table = try myconn(["list", "--clients"] + base)
            #expect(table.status == 0, "\(table.stderr)")
            expectClean(table.stdout, "list's table")
            #expect(table.stdout.contains("\\x1B[2J\\x1B]0;owned\\x07\\x9B1m\\u{202E}gnp"), "INFO shown escaped:\n\(table.stdout)")
            #expect(table.stdout.contains("u\\x1B[31m"), "USER shown escaped")
            #expect(table.stdout.contains("\\x1B[2Jcli"), "the client's comm shown escaped")

            let json = try parseJSON(try myconn(["list", "--json"] + base).stdout)
            let row = try #require((json["sessions"] as? [[String: Any]])?.first { $0["id"] as? Int == Int(sid) })
            #expect((row["info"] as? String)?.contains(Self.hostile) == true, "JSON carries the exact text, in its own escaping")
            #expect(row["user"] as? String == user)

            let zombies = try myconn(["zombies", "--idle", "0"] + base)
            expectClean(zombies.stdout + zombies.stderr, "zombies")
            for preview in [["kill", "\(sid)", "--dry-run"], ["close", "\(sid)", "--dry-run"]] {
                let r = try myconn(preview + ["--audit-log", server.dir.appendingPathComponent("audit.log").path] + base)
                #expect(r.status == 0, "\(r.stderr)")
                expectClean(r.stderr + r.stdout, "\(preview[0])'s preview and result")
                // The preview a DBA confirms: its own lines, each cell escaped once.
                let lines = r.stderr.split(separator: "\n")
                #expect(lines.first?.hasPrefix(preview[0] == "kill" ? "Would run KILL CONNECTION on 1 session(s)" : "Would close 1 socket(s)") == true,
                        "\(r.stderr)")
                #expect(lines.dropFirst().first?.hasPrefix("SESSION  USER") == true, "the preview's header line: \(r.stderr)")
                #expect(lines.contains { $0.contains("u\\x1B[31m") && !$0.contains("u\\\\x1B") }, "\(preview[0]) shows the user, escaped once: \(r.stderr)")
            }
        }
    }
}
