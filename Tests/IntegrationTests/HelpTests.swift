import Testing

/// The help people read: every subcommand answers --help, names its options and the exit statuses.
/// No root and no server: runs in every test run (output through files, see ``myconnUnpiped(_:)``).
@Suite("help text (no root, no server)")
struct HelpTests {
    @Test("each subcommand's --help exits 0, lists the exit statuses and its own options", arguments: [
        ("list", ["--json", "--wide", "--clients", "--no-sql", "--source", "--netns-of"]),
        ("zombies", ["--json", "--idle"]),
        ("kill", ["--query", "--zombie", "--yes", "--dry-run", "--match-user", "--match-command", "--program"]),
        ("close", ["--method", "--peer", "--fd", "--raw-close", "--client", "--client-port", "--match-host"]),
        ("probe", ["--timeout", "--peer", "--zombie", "--dry-run", "--match-info", "--match-state"]),
        ("fault", ["--blackhole", "--loss", "--rate", "--delay", "--reset", "--half-close", "--direction", "--for", "--list", "--heal", "--all",
                   "--client", "--match-db"]),
        ("reap", ["--print", "--kill", "--kill-query", "--close", "--probe", "--busy-time", "--idle-time", "--idle-since-recv", "--trx-time",
                  "--zombie", "--ignore-user", "--ignore-info", "--group-by", "--query-count", "--any-busy-time", "--each-busy-time",
                  "--victims", "--interval", "--run-time", "--rules", "--test-matching", "--log-table", "--dry-run", "--yes", "--json"]),
    ])
    func help(command: String, options: [String]) throws {
        let r = try myconnUnpiped([command, "--help"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Exit status: 0"), "\(command)")
        for o in options { #expect(r.stdout.contains(o), "\(command) --help names \(o)") }
    }

    @Test("probe documents its own exit status 11; every acting command documents 15 (nothing matched)")
    func probeStatus() throws {
        #expect(try myconnUnpiped(["probe", "--help"]).stdout.contains("11"))
        for c in ["kill", "close", "probe", "fault"] { #expect(try myconnUnpiped([c, "--help"]).stdout.contains("15 the matchers"), "\(c)") }
        let reap = try myconnUnpiped(["reap", "--help"]).stdout
        #expect(reap.contains("reap's exit status: 0") && reap.contains("; 8") && reap.contains("10 the audit"), "reap's own statuses")
    }
}
