import Foundation
import Testing

extension RealServer.TopTests {
    @Test("PgDn, End, PgUp and Home move the cursor a page and to the ends; a query running 10 s or more turns green; C then Enter cuts with --method")
    func pagesTimeColourAndDefaultMethod() throws {
        let server = try TestServer()
        let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:40", "tcp4:busy:1"])
        defer { withExtendedLifetime(clients) {} }
        let busySince = Date()  // the busy session is in SELECT SLEEP from here
        // 20 lines: 3 of header, the column titles, 15 rows, the status line; a page is 14 rows.
        let pane = try TmuxPane(width: 160, height: 20)
        try startTop(pane, ["--interval", "0.5", "--method", "pidfd", "--wait", "3"], server: server)
        try pane.wait("a full page of sessions") { TopScreenText($0).rows.count == 15 }
        try pane.keys("s")  // by ID: the order stays put across refreshes
        try pane.wait("sort by ID") { $0.contains { $0.contains("sort ID") } }
        try pane.keys("Home")
        let first = try pane.wait("the first page, cursor on top") { s in
            let t = TopScreenText(s)
            return t.rows.count == 15 && t.rows[0].cursor
        }
        let page1 = TopScreenText(first).rows.map(\.id)
        func cursorOn(_ what: String, _ id: UInt64?) throws -> [String] {
            try pane.wait(what) { TopScreenText($0).cursorID == id }
        }
        try pane.keys("NPage")
        _ = try cursorOn("PgDn: 14 rows down", page1[14])
        try pane.keys("End")
        let last = try pane.wait("End: the last row") { s in
            let t = TopScreenText(s)
            return t.rows.count == 15 && t.rows[14].cursor
        }
        let page9 = TopScreenText(last).rows.map(\.id)
        #expect(page9[14] == page9.compactMap { $0 }.max(), "sorted by id, the last row has the highest: \(page9)")
        try pane.keys("PPage")
        _ = try cursorOn("PgUp: 14 rows up", page9[0])
        try pane.keys("Home")
        _ = try cursorOn("Home: the first row", page1[0])

        // TIME >= 10 s in Query: green (SGR 32, or 38;5;2 where ncurses uses 256 colours).
        try pane.keys("/")
        try pane.type("SLEEP")
        try pane.keys("Enter")
        try pane.wait("the busy query alone") { TopScreenText($0).rows.count == 1 }
        let tenSeconds = busySince.addingTimeInterval(10.5).timeIntervalSinceNow
        if tenSeconds > 0 { usleep(UInt32(tenSeconds * 1_000_000)) }
        var line = ""
        for _ in 0..<50 {
            let sgr = try run(TmuxPane.tmux, ["-L", pane.server, "capture-pane", "-e", "-p", "-t", "t"]).stdout
            line = String(sgr.split(separator: "\n").first { $0.contains("SLEEP(") } ?? "")
            if Self.sgr(line, has: [32]) || Self.sgr(line, has: [38, 5, 2]) { break }
            usleep(100_000)
        }
        #expect(Self.sgr(line, has: [32]) || Self.sgr(line, has: [38, 5, 2]), "a query of 10 s or more is green: \(line.debugDescription)")
        try pane.keys("\\")
        try pane.wait("filters cleared") { $0.contains { $0.contains("filters cleared") } }

        // C, then Enter: the method --method named (pidfd).
        let victim = try #require(clients.sessions.first).id
        try pane.keys("Home")  // the cursor stayed on the busy row, the last by ID
        try pane.wait("the first page") { TopScreenText($0).ids.contains(victim) }
        try cursor(to: victim, pane)
        try pane.keys("C")
        try pane.wait("the method choice") { $0.contains { $0.contains("Enter pidfd") } }
        try pane.keys("Enter")
        try pane.wait("the confirmation") { $0.contains { $0.contains("cut (pidfd) 1 target(s)") } }
        try pane.keys("y")
        try pane.wait("the outcome") { $0.contains { $0.contains("session \(victim): gone") } }
        #expect(!(try processlistIDs(server)).contains(victim))
        let outcomes = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").map { try parseJSON(String($0)) }
            .filter { $0["phase"] as? String == "outcome" }
        #expect(outcomes.count == 1 && outcomes.first?["method"] as? String == "pidfd" && outcomes.first?["outcome"] as? String == "done")
        try pane.keys("q")
        try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
    }

    @Test("rows coloured by zombie class (--idle 0: every Sleep session is idle), none with NO_COLOR; d sets the interval, p pauses, ? shows the keys")
    func coloursAndKeys() throws {
        let server = try TestServer()
        let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "tcp4:busy:1"])
        defer { withExtendedLifetime(clients) {} }
        for noColor in [false, true] {
            let pane = try TmuxPane()
            let env = noColor ? "NO_COLOR=1 " : ""
            try pane.shell(env + ([productsDir.appendingPathComponent("myconn").path, "top", "--no-defaults", "-uroot", "-S", server.socketPath,
                                   "--audit-log", audit, "--idle", "0", "--interval", "0.3"]).joined(separator: " ") + "; echo TOP_EXIT=$?")
            try pane.wait("the idle zombies") { $0.contains { $0.contains("zombies idle 2") } }
            // capture-pane -e keeps the colours as SGR sequences: 35 is magenta (ncurses may
            // write it as 35 or as 38;5;5).
            let sgr = try run(TmuxPane.tmux, ["-L", pane.server, "capture-pane", "-e", "-p", "-t", "t"]).stdout
            let idleLines = sgr.split(separator: "\n").filter { $0.contains(" idle ") || $0.hasSuffix(" idle") || $0.contains("idle\u{1B}") }
            let coloured = idleLines.contains { $0.contains("[35m") || $0.contains(";35m") || $0.contains("38;5;5m") }
            #expect(coloured != noColor, "idle rows magenta \(noColor ? "not " : "")expected: \(idleLines)")
            if noColor { #expect(!sgr.contains("[31m") && !sgr.contains("[35m") && !sgr.contains("[32m") && !sgr.contains("[33m")) }
            // Details of an idle session name the class and its rule.
            try cursor(to: clients.sessions[0].id, pane)
            try pane.keys("Enter")
            try pane.wait("the rule") { $0.contains { $0.contains("idle") && $0.contains("Sleep for at least --idle seconds") } }
            try back(pane)
            try pane.keys("d")
            try pane.type("5")
            try pane.keys("Enter")
            try pane.wait("the interval") { $0.contains { $0.contains("every 5 s") } }
            try pane.keys("p")
            try pane.wait("paused") { $0.contains { $0.contains("(paused: p)") } }
            try pane.keys("?")
            try pane.wait("the keys") { $0.contains { $0.hasPrefix("KEYS") } }
            try pane.keys("x")
            try pane.keys("q")
            try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
        }
    }

    @Test("without a terminal, or with a TERM terminfo does not know, top refuses in one line and points to list")
    func noTerminal() throws {
        let r = try myconn(["top", "--no-defaults", "-uroot"])
        #expect(r.status == 64)
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("myconn list"), "\(r.stderr)")
        let server = try TestServer()
        let pane = try TmuxPane(width: 120, height: 20)
        try pane.shell("TERM=no-such-terminal \(productsDir.appendingPathComponent("myconn").path) top --no-defaults -uroot -S \(server.socketPath) --audit-log \(audit); echo TOP_EXIT=$?")
        let s = try pane.wait("the refusal") { $0.contains { $0.hasPrefix("TOP_EXIT=") } }
        #expect(s.contains { $0.contains("myconn: TERM=no-such-terminal is not a terminal type") }, "\(s)")
        #expect(s.contains("TOP_EXIT=64"))
    }

    /// Whether an SGR sequence of `line` (ESC [ p;p;... m) has `codes` in a row among its parameters.
    static func sgr(_ line: String, has codes: [Int]) -> Bool {
        var rest = Substring(line)
        while let start = rest.range(of: "\u{1B}[") {
            rest = rest[start.upperBound...]
            guard let m = rest.firstIndex(of: "m") else { return false }
            let params = rest[..<m].split(separator: ";", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
            if params.count >= codes.count, (0...(params.count - codes.count)).contains(where: { Array(params[$0..<$0 + codes.count]) == codes }) {
                return true
            }
            rest = rest[m...]
        }
        return false
    }
}
