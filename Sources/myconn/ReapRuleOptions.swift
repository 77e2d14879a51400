import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore

/// `reap`'s rules, on the command line or one per line in a `--rules FILE` (read again on
/// SIGHUP). Every rule given must hold.
struct ReapRuleOptions: ParsableArguments {
    @OptionGroup var selection: Selection

    @Option(name: .customLong("ignore-user"), help: "Never a victim: sessions of this user (exact, or /regex/). Every --ignore-* wins over every rule.")
    var ignoreUser: String?

    @Option(name: .customLong("ignore-db"), help: "Never a victim: sessions whose database is this (exact, or /regex/).")
    var ignoreDB: String?

    @Option(name: .customLong("ignore-host"), help: "Never a victim: sessions whose client address is this (exact, or /regex/).")
    var ignoreHost: String?

    @Option(name: .customLong("ignore-command"), help: "Never a victim: sessions in this COMMAND (exact, or /regex/).")
    var ignoreCommand: String?

    @Option(name: .customLong("ignore-info"), help: "Never a victim: sessions whose statement has a match of this regular expression.")
    var ignoreInfo: String?

    @Option(name: .customLong("ignore-state"), help: "Never a victim: sessions whose STATE has a match of this regular expression.")
    var ignoreState: String?

    @Option(name: .customLong("ignore-program"), help: "Never a victim: sessions whose program_name is this (exact, or /regex/).")
    var ignoreProgram: String?

    @Option(name: .customLong("busy-time"), help: "Sessions running a statement (Query, Execute) for at least S seconds.")
    var busyTime: Int64?

    @Option(name: .customLong("idle-time"), help: "Sessions in Sleep for at least S seconds.")
    var idleTime: Int64?

    @Option(name: .customLong("idle-since-recv"), help: "TCP sessions whose socket has received nothing for at least S seconds (tcp_info).")
    var idleSinceRecv: Double?

    @Option(name: .customLong("trx-time"), help: "Sessions holding an InnoDB transaction open for at least S seconds (information_schema.INNODB_TRX).")
    var trxTime: Int64?

    @Option(name: .customLong("group-by"), help: "Judge sessions in classes of this column: id, user, host, db, command, time, state, info or fingerprint.")
    var groupBy: String?

    @Option(name: .customLong("query-count"), help: "A class is chosen only when at least N of its sessions match.")
    var queryCount: Int?

    @Option(name: .customLong("any-busy-time"), help: "A class is chosen only when one of its matching sessions has TIME > S.")
    var anyBusyTime: Int64?

    @Option(name: .customLong("each-busy-time"), help: "A class is chosen only when each of its matching sessions has TIME > S.")
    var eachBusyTime: Int64?

    @Option(name: .long, help: "Which matching sessions of a class are victims: oldest (default), all, all-but-oldest.")
    var victims: String = "oldest"

    /// Whether any rule option was given (a `--rules FILE` is then refused).
    var anyGiven: Bool {
        selection.isGiven || selection.idle != nil
            || [ignoreUser, ignoreDB, ignoreHost, ignoreCommand, ignoreInfo, ignoreState, ignoreProgram, groupBy].contains { $0 != nil }
            || [busyTime, idleTime, trxTime, anyBusyTime, eachBusyTime].contains { $0 != nil }
            || idleSinceRecv != nil || queryCount != nil || victims != "oldest"
    }

    func validate() throws {
        try requireFinite([("--idle-since-recv", idleSinceRecv)])
        for (name, v) in [("--busy-time", busyTime), ("--idle-time", idleTime), ("--trx-time", trxTime),
                          ("--any-busy-time", anyBusyTime), ("--each-busy-time", eachBusyTime)] {
            if let v, v < 0 { throw ValidationError("\(name) must be 0 or more seconds") }
        }
        if let s = idleSinceRecv, !(s >= 0 && s < 1e7) { throw ValidationError("--idle-since-recv must be 0 or more seconds") }
        if let n = queryCount, n < 1 { throw ValidationError("--query-count must be 1 or more") }
        if let g = groupBy, ReapGroupBy(rawValue: g) == nil {
            throw ValidationError("--group-by takes one of: \(ReapGroupBy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if ReapVictims(rawValue: victims) == nil { throw ValidationError("--victims takes oldest, all or all-but-oldest") }
        _ = try rules()
    }

    /// `--group-by` and the class rules without it judge all matching sessions as one class, as pt-kill does.
    /// The core's rules. - Throws: ValidationError for an expression that does not compile.
    func rules() throws -> ReapRules {
        var r = ReapRules()
        r.selection = try selection.selection()
        r.ignore.user = try textMatch("--ignore-user", ignoreUser)
        r.ignore.db = try textMatch("--ignore-db", ignoreDB)
        r.ignore.host = try textMatch("--ignore-host", ignoreHost)
        r.ignore.command = try textMatch("--ignore-command", ignoreCommand)
        r.ignore.info = try textMatch("--ignore-info", ignoreInfo, regex: true)
        r.ignore.state = try textMatch("--ignore-state", ignoreState, regex: true)
        r.ignore.program = try textMatch("--ignore-program", ignoreProgram)
        r.busyTime = busyTime
        r.idleTime = idleTime
        r.idleSinceReceive = idleSinceRecv
        r.transactionTime = trxTime
        r.groupBy = groupBy.flatMap(ReapGroupBy.init(rawValue:))
        r.queryCount = queryCount
        r.anyBusyTime = anyBusyTime
        r.eachBusyTime = eachBusyTime
        r.victims = ReapVictims(rawValue: victims) ?? .oldest
        return r
    }

    /// The rules of a `--rules` file: the same options, one per line (`busy-time 60`,
    /// `busy-time=60` or `--busy-time=60`; a flag alone), `#` starts a comment line.
    /// - Throws: ``Failure`` (usage) naming the file and line.
    static func read(file path: String) throws(Failure) -> ReapRuleOptions {
        guard let bytes = readFile(path, limit: 1 << 20) else { throw Failure(.usage, "cannot read the rules file \(path) (or it is over 1 MiB)") }
        let text = String(decoding: bytes, as: UTF8.self)
        var args: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            var name = Substring(line)
            while name.hasPrefix("-") { name = name.dropFirst() }
            let cut = name.firstIndex { $0 == "=" || $0 == " " || $0 == "\t" }
            let key = cut.map { String(name[..<$0]) } ?? String(name)
            guard !key.isEmpty else { throw Failure(.usage, "\(path) line \(n + 1): no option name") }
            args.append("--" + key)
            if let cut { args.append(String(name[name.index(after: cut)...]).trimmingWhitespace()) }
        }
        do {
            return try ReapRuleOptions.parse(args)
        } catch {
            let message = ReapRuleOptions.message(for: error).split(separator: "\n").first.map(String.init) ?? "not understood"
            throw Failure(.usage, "rules file \(path): \(message)")
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" && $0 != "\r" }) else { return "" }
        let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" && $0 != "\r" })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

/// A file's bytes, up to `limit` (a rules file, a `--test-matching` recording); nil when it
/// cannot be read or is larger.
func readFile(_ path: String, limit: Int) -> [UInt8]? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
        if bytes.count > limit { return nil }
        if n < buf.count { return ferror(f) == 0 ? bytes : nil }
    }
}
