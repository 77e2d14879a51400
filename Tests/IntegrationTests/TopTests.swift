import Foundation
import Testing

extension RealServer {
    /// `myconn top` in a real terminal (tmux) against a real mariadbd: what is on screen, the keys,
    /// the actions through the pipeline, and the terminal given back.
    @Suite("top in tmux on a real mariadbd: the screen equals the oracle, keys, actions, fallback, terminal restored")
    struct TopTests {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-top-\(UUID().uuidString.prefix(8))")

        init() throws { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }

        var audit: String { dir.appendingPathComponent("audit.log").path }

        /// Starts top in the pane, between two `stty -a` readings; its exit status is printed after.
        func startTop(_ pane: TmuxPane, _ args: [String], connect: [String]? = nil, server: TestServer) throws {
            let bin = productsDir.appendingPathComponent("myconn").path
            let conn = connect ?? ["--no-defaults", "-uroot", "-S", server.socketPath]
            let cmd = ([bin, "top"] + conn + ["--audit-log", audit] + args).joined(separator: " ")
            try pane.shell("stty -a > \(dir.path)/stty.before; \(cmd); echo TOP_EXIT=$?; stty -a > \(dir.path)/stty.after")
        }

        func processlistIDs(_ server: TestServer) throws -> Set<UInt64> {
            Set(try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) })
        }

        /// Esc out of the details, then waits for the table: a key sent at once would reach
        /// ncurses within its Esc delay and be read as part of an escape sequence.
        func back(_ pane: TmuxPane) throws {
            try pane.keys("Escape")
            try pane.wait("the table again") { !TopScreenText($0).rows.isEmpty }
        }

        func cursor(to id: UInt64, _ pane: TmuxPane) throws { try pane.moveCursor(to: id) }

        @Test("ids and fds on screen equal the oracle's; filter, sort, and the cursor staying on its session across refreshes")
        func screenIsExact() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:3", "unix:idle:2", "tcp4:busy:2", "tcp6:idle:1"])
            let oracle = try Oracle(server: server)
            let pane = try TmuxPane()
            try startTop(pane, ["--interval", "0.3"], server: server)
            let want = Set(clients.sessions.map(\.id))
            let s = TopScreenText(try pane.wait("every session on screen") { Set(TopScreenText($0).ids).isSuperset(of: want) })
            #expect(s.contains("mysqld pid \(server.pid)"))
            #expect(s.contains("sessions \(want.count): Sleep 6, Query 2"), "the count by command, myconn's own left out")
            for c in clients.sessions {
                let row = try #require(s.rows.first { $0.id == c.id }, "session \(c.id) on screen")
                let end = oracle.serverEnd(of: c)
                if c.transport == "unix" && row.tokens[3] == "Query" {
                    #expect(row.fd == nil, "a busy unix session's fd is not proven")
                } else {
                    #expect(row.fd == end?.fd, "session \(c.id): fd \(row.fd.map(String.init) ?? "-") on screen, \(end.map { String($0.fd) } ?? "?") in /proc")
                }
            }
            // The default sort: longest TIME first, so the busy sessions (started last) are not above older idle ones
            // only by accident; `s` makes it ID, ascending.
            try pane.keys("s")
            let byID = TopScreenText(try pane.wait("sort by ID") { $0.contains { $0.contains("sort ID") } })
            #expect(byID.ids == byID.ids.sorted())
            try pane.keys("r")
            let reversed = TopScreenText(try pane.wait("reversed") { $0.contains { $0.contains("sort ID (reversed)") } })
            #expect(reversed.ids == reversed.ids.sorted(by: >))
            // The filter: a regular expression over user, host, db, state and info.
            try pane.keys("/")
            try pane.type("sleep\\(")
            try pane.keys("Enter")
            let busy = Set(clients.sessions.filter { $0.transport == "tcp4" }.suffix(2).map(\.id))
            let filtered = TopScreenText(try pane.wait("the filter") { Set(TopScreenText($0).ids) == busy })
            #expect(filtered.contains("filter /sleep\\(/"))
            try pane.keys("\\")
            try pane.wait("filters cleared") { Set(TopScreenText($0).ids).isSuperset(of: want) }
            // The cursor stays on its session while refreshes come and the rows above it go.
            let sorted = clients.sessions.map(\.id).sorted(by: >)
            let target = sorted[4]
            try cursor(to: target, pane)
            let above = sorted[0]
            try server.sql("KILL \(above)")
            let after = TopScreenText(try pane.wait("the killed row gone") { !TopScreenText($0).ids.contains(above) })
            #expect(after.cursorID == target, "the cursor stayed on session \(target)")
            usleep(1_000_000)
            #expect(TopScreenText(try pane.screen()).cursorID == target, "and there after more refreshes")
            try pane.keys("q")
            try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
        }

        @Test("K then y kills the session under the cursor and nothing else; n at the confirmation does nothing, on record")
        func killUnderCursor() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:4"])
            let pane = try TmuxPane()
            try startTop(pane, ["--interval", "0.5"], server: server)
            let ids = clients.sessions.map(\.id)
            try pane.wait("sessions") { Set(TopScreenText($0).ids).isSuperset(of: Set(ids)) }
            try cursor(to: ids[1], pane)
            // n first: nothing done, and the audit log says declined.
            try pane.keys("K")
            try pane.wait("the confirmation") { $0.contains { $0.contains("y: do it") } }
            #expect(try pane.screen().contains { $0.contains("KILL CONNECTION 1 target(s)") })
            try pane.keys("n")
            try pane.wait("not confirmed") { $0.contains { $0.contains("not confirmed; nothing done") } }
            #expect(try processlistIDs(server).isSuperset(of: Set(ids)))
            let declined = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").map { try parseJSON(String($0)) }
            #expect(declined.map { $0["phase"] as? String } == ["declined"])
            #expect(declined.first?["session_id"] as? Int == Int(ids[1]))
            // Then y.
            try pane.keys("K")
            try pane.wait("the confirmation") { $0.contains { $0.contains("y: do it") } }
            try pane.keys("y")
            try pane.wait("the outcome") { $0.contains { $0.contains("KILL CONNECTION: session \(ids[1]): gone") } }
            let present = try processlistIDs(server)
            #expect(!present.contains(ids[1]))
            #expect(present.isSuperset(of: Set(ids).subtracting([ids[1]])), "the others are untouched")
            let phases = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").map { try parseJSON(String($0))["phase"] as? String }
            #expect(phases == ["declined", "intent", "outcome"])
            try pane.keys("q")
            try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
        }

        @Test("Enter shows the socket as /proc has it, the client process and the open transaction; Q ends a query and keeps the session; P finds a live client alive; a long action leaves the keys working")
        func detailsQueryAndProbe() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "tcp4:busy:1"])
            // A session with an open InnoDB transaction that changed one row, then waits.
            try server.sql("CREATE DATABASE t; CREATE TABLE t.a (id INT PRIMARY KEY) ENGINE=InnoDB")
            let trx = Process()
            trx.executableURL = URL(fileURLWithPath: "/usr/bin/mariadb")
            trx.arguments = ["--no-defaults", "-uroot", "-h127.0.0.1", "-P\(server.port)", "-e",
                             "BEGIN; INSERT INTO t.a VALUES (1); SELECT SLEEP(60)"]
            trx.standardOutput = FileHandle.nullDevice
            trx.standardError = FileHandle.nullDevice
            try trx.run()
            defer { trx.terminate() }
            var trxID: UInt64?
            for _ in 0..<100 where trxID == nil {
                trxID = UInt64(try server.sql("SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX").trimmingCharacters(in: .whitespacesAndNewlines))
                if trxID == nil { usleep(50_000) }
            }
            let withTrx = try #require(trxID)
            let oracle = try Oracle(server: server)
            let pane = try TmuxPane()
            try startTop(pane, ["--interval", "0.5"], server: server)
            try pane.wait("sessions") { Set(TopScreenText($0).ids).isSuperset(of: Set(clients.sessions.map(\.id) + [withTrx])) }
            // Details of the idle demo session: fd and inode as /proc has them, and its client.
            let idle = clients.sessions[0]
            let end = try #require(oracle.serverEnd(of: idle))
            try cursor(to: idle.id, pane)
            try pane.keys("Enter")
            let d = try pane.wait("the details") { $0.contains { $0.contains("client") && $0.contains("pid ") } }
            #expect(d.contains { $0.contains("SESSION \(idle.id)") })
            #expect(d.contains { $0.hasPrefix("  fd ") && $0.hasSuffix(" \(end.fd)") })
            #expect(d.contains { $0.hasPrefix("  inode ") && $0.hasSuffix(" \(end.inode)") })
            #expect(d.contains { $0.contains("pid \(clients.process.processIdentifier) myconn-demo-cli") })
            #expect(d.contains { $0.contains("tcp_info") && $0.contains("rtt ") })
            try back(pane)
            // Details of the session in a transaction.
            try cursor(to: withTrx, pane)
            try pane.keys("Enter")
            let t = try pane.wait("the transaction") { $0.contains { $0.contains("rows changed") } }
            #expect(t.contains { $0.hasPrefix("  state ") && $0.contains("RUNNING") })
            #expect(t.contains { $0.hasPrefix("  rows changed") && $0.hasSuffix(" 1") })
            try back(pane)
            // Q on the busy demo session: its statement ends, the session stays.
            let busy = clients.sessions[1]
            try cursor(to: busy.id, pane)
            try pane.keys("Q")
            try pane.wait("the confirmation") { $0.contains { $0.contains("KILL QUERY 1 target(s)") } }
            try pane.keys("y")
            try pane.wait("the query ended") { $0.contains { $0.contains("KILL QUERY: session \(busy.id): still there in Sleep") } }
            #expect(try processlistIDs(server).contains(busy.id))
            // P on the idle one: its client answers.
            try cursor(to: idle.id, pane)
            try pane.keys("P")
            try pane.wait("the confirmation") { $0.contains { $0.contains("probe 1 target(s)") } }
            try pane.keys("y")
            try pane.wait(seconds: 20, "the verdict") { $0.contains { $0.contains("probe: session \(idle.id): alive") } }
            #expect(try processlistIDs(server).contains(idle.id))
            // A cut of the session in SLEEP(60) inside its transaction: the action watches for it to
            // go (up to --wait, 5 s). Meanwhile the keys work and the table refreshes.
            try cursor(to: withTrx, pane)
            try pane.keys("C")
            try pane.keys("f")
            try pane.wait("the confirmation") { $0.contains { $0.contains("cut (pidfd) 1 target(s)") } }
            try pane.keys("y")
            try pane.keys("s")
            let during = try pane.wait("a key during the cut's wait") { $0.contains { $0.contains("sort ID") } }
            #expect(!during.contains { $0.contains("cut (pidfd): session") }, "answered before the action's outcome")
            let outcome = try pane.wait(seconds: 15, "the outcome") { $0.contains { $0.contains("cut (pidfd): session \(withTrx): ") } }
            #expect(outcome.contains { $0.contains("session \(withTrx): gone") || $0.contains("session \(withTrx): still there in Query") })
            try pane.keys("q")
            try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
        }

        @Test("a cut of a row whose socket changed since the snapshot (paused view, session ended, a new one on its fd) is refused, and the new session is untouched")
        func staleRowRefused() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2"])
            let pane = try TmuxPane()
            try startTop(pane, ["--interval", "0.3"], server: server)
            let victim = clients.sessions[1].id
            try pane.wait("sessions") { Set(TopScreenText($0).ids).isSuperset(of: Set(clients.sessions.map(\.id))) }
            try cursor(to: victim, pane)
            try pane.keys("p")
            try pane.wait("paused") { $0.contains { $0.contains("(paused: p)") } }
            try server.sql("KILL \(victim)")
            for _ in 0..<100 where try processlistIDs(server).contains(victim) { usleep(20_000) }
            let newcomer = try DemoClientsProcess(server: server, specs: ["tcp4:loop:1"])
            usleep(300_000)
            try pane.keys("C")
            try pane.keys("f")
            try pane.wait("the confirmation") { $0.contains { $0.contains("cut (pidfd) 1 target(s)") } }
            try pane.keys("y")
            let s = try pane.wait("the refusal") { $0.contains { $0.contains("cut (pidfd): session \(victim): refused: ") } }
            #expect(s.contains { $0.contains("is no longer socket inode") || $0.contains("is closed now") }, "\(s)")
            usleep(300_000)
            let sum = try #require(newcomer.finish()[newcomer.sessions[0].id])
            #expect(sum.errorCode == nil && sum.ok > 0 && sum.wrongRows == 0, "the new session was not touched")
            let outcome = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").map { try parseJSON(String($0)) }
                .filter { $0["phase"] as? String == "outcome" }
            #expect(outcome.count == 1 && outcome.first?["outcome"] as? String == "refused")
            try pane.keys("q")
            try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
        }

        @Test("C, a method key and y cut a marked set of three; the other sessions keep working", .serialized, arguments: ["t", "f", "d"])
        // One method at a time: three servers, three tmux and eighteen looping clients at once
        // on two cores made each wait seconds for a CPU (112 s in one CI run).
        func cutMarked(methodKey: String) throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:6"])
            let pane = try TmuxPane()
            try startTop(pane, ["--interval", "0.5", "--wait", "3"], server: server)
            let ids = clients.sessions.map(\.id)
            try pane.wait("sessions") { Set(TopScreenText($0).ids).isSuperset(of: Set(ids)) }
            try pane.keys("s")  // by ID: rows stay put while the loops run
            try pane.wait("sort by ID") { $0.contains { $0.contains("sort ID") } }
            let victims = [ids[0], ids[2], ids[4]]
            for v in victims {
                try cursor(to: v, pane)
                try pane.keys("Space")
                try pane.wait("marked \(v)") { TopScreenText($0).rows.first { $0.id == v }?.marked == true }
            }
            try pane.press("C", "the method choice") { $0.contains { $0.contains("cut with: t ptrace") } }
            let method = ["t": "ptrace", "f": "pidfd", "d": "destroy"][methodKey]!
            try pane.press(methodKey, "the confirmation") { $0.contains { $0.contains("cut (\(method)) 3 target(s)") } }
            try pane.keys("y")
            try pane.wait("the outcome") { s in victims.allSatisfy { v in s.contains { $0.contains("session \(v): gone") } } }
            let present = try processlistIDs(server)
            let summaries = clients.finish()
            for c in clients.sessions {
                let sum = try #require(summaries[c.id])
                #expect(sum.wrongRows == 0)
                if victims.contains(c.id) {
                    #expect(!present.contains(c.id))
                    #expect(sum.errorCode != nil, "victim \(c.id) saw its connection drop")
                } else {
                    #expect(present.contains(c.id))
                    #expect(sum.errorCode == nil && sum.ok > 0, "bystander \(c.id) kept working")
                }
            }
            let outcomes = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").map { try parseJSON(String($0)) }
                .filter { $0["phase"] as? String == "outcome" }
            #expect(outcomes.count == 3 && outcomes.allSatisfy { $0["method"] as? String == method && $0["outcome"] as? String == "done" })
            try pane.keys("q")
        }

        @Test("a resize is followed; q, Ctrl-C, SIGTERM and SIGHUP each give the terminal back (stty -a unchanged)")
        func resizeAndRestore() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:busy:2"])
            defer { withExtendedLifetime(clients) {} }
            for quit in ["q", "C-c", "SIGTERM", "SIGHUP"] {
                let pane = try TmuxPane(width: 200, height: 50)
                try startTop(pane, ["--interval", "0.3"], server: server)
                let wide = try pane.wait("the table") { $0.contains { $0.contains(" ID USER ") && $0.contains("INFO") } }
                #expect(wide.contains { $0.contains("RTT_MS") })
                try pane.resize(width: 90, height: 20)
                // Both sessions' rows too: a capture under load can land in the middle of a redraw.
                let narrow = try pane.wait("the narrow table") { s in
                    s.contains { $0.contains(" ID USER ") && !$0.contains("RTT_MS") } && TopScreenText(s).ids.count == 2
                }
                #expect(narrow.allSatisfy { $0.count <= 90 }, "every line fits 90 columns")
                #expect(narrow.count <= 21 && narrow.dropLast().count == 20, "20 rows")
                #expect(narrow.contains { $0.hasPrefix("   ID USER") } && TopScreenText(narrow).ids.count == 2)
                if quit == "q" || quit == "C-c" {
                    try pane.keys(quit)
                } else {
                    let pids = try run("/usr/bin/pgrep", ["-f", "myconn top .*\(audit)"]).stdout.split(separator: "\n")
                    #expect(pids.count == 1)
                    for p in pids { kill(Int32(p)!, quit == "SIGTERM" ? SIGTERM : SIGHUP) }
                }
                try pane.wait("the shell again (\(quit))") { $0.contains("TOP_EXIT=0") }
                // The size is the window's (resized above); every mode and character must be as before.
                func modes(_ name: String) throws -> String {
                    try String(contentsOfFile: dir.appendingPathComponent(name).path, encoding: .utf8)
                        .replacingOccurrences(of: #"rows \d+; columns \d+;"#, with: "", options: .regularExpression)
                }
                #expect(try modes("stty.before") == modes("stty.after"), "stty -a after \(quit) equals before")
            }
        }

        @Test("the server stopped mid-refresh gives a banner, not an exit; a full server gives the kernel-only view, where C cuts and K is refused")
        func serverGoneAndFull() throws {
            do {
                let server = try TestServer()
                let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2"])
                defer { withExtendedLifetime(clients) {} }
                let pane = try TmuxPane()
                try startTop(pane, ["--interval", "0.2"], server: server)
                try pane.wait("sessions") { TopScreenText($0).ids.count == 2 }
                kill(server.pid, SIGKILL)
                let s = try pane.wait("the banner") { $0.contains { $0.contains("SERVER UNAVAILABLE") } }
                #expect(!s.contains { $0.contains("TOP_EXIT") }, "top is still running")
                try pane.keys("q")
                try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
            }
            let server = try TestServer(extraArgs: ["--max-connections=10"])
            try server.sql("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'pw'")
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:10"], user: "app", password: "pw")
            let oracle = try Oracle(server: server)
            let pane = try TmuxPane()
            try startTop(pane, ["--interval", "0.5"], connect: ["--no-defaults", "-uapp", "-ppw", "-h127.0.0.1", "-P\(server.port)"], server: server)
            let s = TopScreenText(try pane.wait("the kernel-only banner") { $0.contains { $0.contains("KERNEL-ONLY VIEW") } })
            #expect(s.contains("Too many connections"))
            try pane.wait("the sockets") { TopScreenText($0).rows.count == 10 }
            let fds = Set(TopScreenText(try pane.screen()).rows.compactMap(\.fd))
            #expect(fds == Set(clients.sessions.compactMap { oracle.serverEnd(of: $0)?.fd }), "every socket with its fd")
            try pane.keys("K")
            try pane.wait("K refused") { $0.contains { $0.contains("K and Q need SQL") } }
            try pane.keys("C")
            try pane.keys("f")
            try pane.wait("the confirmation") { $0.contains { $0.contains("cut (pidfd) 1 target(s)") } }
            try pane.keys("y")
            try pane.wait("the cut") { $0.contains { $0.contains("fd ") && $0.contains("socket gone") } }
            try pane.wait("nine sockets") { TopScreenText($0).rows.count == 9 }
            try pane.keys("q")
            try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
        }
    }
}
