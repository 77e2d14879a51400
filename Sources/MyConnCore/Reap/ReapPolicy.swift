import MySQLSessions

/// A candidate the rules chose, and why.
public struct ReapVictim: Sendable, Equatable {
    public var candidate: ReapCandidate
    public var reasons: [String]
    /// The `--group-by` class, when grouping.
    public var group: String?

    /// pt-kill's `reason` column: the rules that matched, comma-separated.
    public var reason: String { reasons.joined(separator: ", ") }
}

/// The pure part of `reap`: which candidates of one snapshot are victims. No I/O; the same
/// answer from a live snapshot and from its recording (`--test-matching`).
public enum ReapPolicy {
    /// The candidates of a list report: its sessions (never myconn's own) and its sockets that
    /// belong to no session, with the extra facts the rules read. Without PROCESS the processlist
    /// shows only the login's own sessions, and every other socket (a replica's included) would
    /// look sessionless: such sockets are then no candidates.
    public static func candidates(_ report: ListReport, programs: [UInt64: String] = [:],
                                  transactions: [UInt64: Int64] = [:]) -> [ReapCandidate] {
        var out: [ReapCandidate] = []
        out.reserveCapacity(report.sessions.count + report.unmatchedSockets.count)
        for s in report.sessions where s.row.id != report.selfConnectionID {
            out.append(ReapCandidate(session: s, program: programs[s.row.id], transactionSeconds: transactions[s.row.id]))
        }
        if report.completeProcessList {
            for k in report.unmatchedSockets { out.append(ReapCandidate(session: nil, orphanSocket: k)) }
        }
        return out
    }

    /// The victims, oldest (by TIME, then lowest id) first within each class, classes in the
    /// order of their oldest member. Each class is judged as pt-kill judges it: its matching
    /// sessions must number at least `--query-count`, and any (each) must have TIME >
    /// `--any-busy-time` (`--each-busy-time`); then `--victims` picks from them.
    public static func victims(_ candidates: [ReapCandidate], rules: ReapRules) -> [ReapVictim] {
        guard rules.hasRule else { return [] }
        var classes: [String: [ReapVictim]] = [:]
        var order: [String] = []
        for c in candidates {
            guard let reasons = rules.reasons(c) else { continue }
            let key = rules.groupBy?.key(c.row) ?? ""
            if classes[key] == nil { order.append(key) }
            classes[key, default: []].append(ReapVictim(candidate: c, reasons: reasons, group: rules.groupBy == nil ? nil : key))
        }
        var picked: [[ReapVictim]] = []
        for key in order {
            var members = classes[key]!
            if let n = rules.queryCount, members.count < n { continue }
            if let s = rules.eachBusyTime, !members.allSatisfy({ ($0.candidate.row?.time ?? 0) > s }) { continue }
            if let s = rules.anyBusyTime, !members.contains(where: { ($0.candidate.row?.time ?? 0) > s }) { continue }
            members.sort(by: olderFirst)
            if let n = rules.queryCount {
                for i in members.indices { members[i].reasons.append("query-count \(n) (\(members.count) in class)") }
            }
            switch rules.victims {
            case .oldest: members = [members[0]]
            case .allButOldest: members.removeFirst()
            case .all: break
            }
            if !members.isEmpty { picked.append(members) }
        }
        picked.sort { olderFirst($0[0], $1[0]) }
        return picked.flatMap { $0 }
    }

    static func olderFirst(_ a: ReapVictim, _ b: ReapVictim) -> Bool {
        let ta = a.candidate.row?.time ?? 0, tb = b.candidate.row?.time ?? 0
        if ta != tb { return ta > tb }
        if let ia = a.candidate.row?.id, let ib = b.candidate.row?.id { return ia < ib }
        // Sessions before sockets without one; among those, the longest silent first.
        if (a.candidate.row == nil) != (b.candidate.row == nil) { return a.candidate.row != nil }
        let ra = a.candidate.socket?.health?.lastReceiveMilliseconds ?? 0, rb = b.candidate.socket?.health?.lastReceiveMilliseconds ?? 0
        if ra != rb { return ra > rb }
        return (a.candidate.socket?.inode ?? .max) < (b.candidate.socket?.inode ?? .max)
    }
}

/// A statement with its literals replaced, for `--group-by fingerprint`: numbers and quoted
/// strings become `?`, an `IN (...)` or `VALUES (...),(...)` list of them `(?+)`, whitespace one space, keywords lower case. Close to
/// pt-kill's fingerprint for the statements a processlist shows; not a SQL parser.
public enum StatementFingerprint {
    public static func of(_ sql: String) -> String {
        var out: [UInt8] = []
        let b = Array(sql.utf8)
        var i = 0
        func isWord(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x24 }
        while i < b.count {
            let c = b[i]
            if c == 0x27 || c == 0x22 {  // 'string' or "string", backslash escapes and doubled quotes
                var j = i + 1
                while j < b.count {
                    if b[j] == 0x5C { j += 2; continue }
                    if b[j] == c { if j + 1 < b.count && b[j + 1] == c { j += 2; continue }; break }
                    j += 1
                }
                out.append(0x3F)
                i = j + 1
            } else if c >= 0x30 && c <= 0x39 && (out.last.map { !isWord($0) } ?? true) {
                var j = i
                while j < b.count && (isWord(b[j]) || b[j] == 0x2E) { j += 1 }
                out.append(0x3F)
                i = j
            } else if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                if let last = out.last, last != 0x20 { out.append(0x20) }
                while i < b.count && (b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D) { i += 1 }
            } else {
                out.append(c >= 0x41 && c <= 0x5A ? c + 0x20 : c)
                i += 1
            }
        }
        while out.last == 0x20 { out.removeLast() }
        let text = String(decoding: out, as: UTF8.self)
        // IN (...) and VALUES (...),(...) lists: one (?+), as pt-kill's QueryRewriter writes them.
        return text.replacing(/\b(in|values?)(?:[\s,]*\([\s?,]*\))+/) { "\($0.1)(?+)" }
    }
}
