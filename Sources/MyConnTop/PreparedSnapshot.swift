import MyConnCore

/// A snapshot made ready for the table on the refresher's thread: its rows, where each row is,
/// and the header's counts. Everything here grows with the number of sessions, so none of it is
/// done on the thread that answers keys (at 10,000 sessions it took that thread tens of
/// milliseconds per refresh, measured by `bench/list.sh`'s "key ms").
public struct PreparedSnapshot: Sendable {
    public let snapshot: Snapshot
    /// Every row of the report, sessions first; empty without a report.
    let rows: [TopRow]
    /// Where each row's key is in ``rows``.
    let index: [RowKey: Int]
    /// Sessions by COMMAND, and zombies (sessions' and sockets') by class, most first.
    let commandCounts: [(name: String, count: Int)]
    let zombieCounts: [(name: String, count: Int)]

    public init(_ snapshot: Snapshot) {
        self.snapshot = snapshot
        guard let report = snapshot.report else {
            rows = []
            index = [:]
            commandCounts = []
            zombieCounts = []
            return
        }
        var rows: [TopRow] = []
        rows.reserveCapacity(report.sessions.count + report.unmatchedSockets.count)
        var byCommand: [String: Int] = [:]
        var byZombie: [String: Int] = [:]
        for s in report.sessions {
            rows.append(TopRow(key: .session(s.row.id), session: s, socket: s.socket))
            byCommand[s.row.command ?? "?", default: 0] += 1
            for z in s.zombie { byZombie[z.rawValue, default: 0] += 1 }
        }
        for k in report.unmatchedSockets {
            for z in k.zombie ?? [] { byZombie[z.rawValue, default: 0] += 1 }
            if let inode = k.inode { rows.append(TopRow(key: .socket(inode: inode), session: nil, socket: k)) }
        }
        var index: [RowKey: Int] = [:]
        index.reserveCapacity(rows.count)
        for (i, r) in rows.enumerated() { index[r.key] = i }
        self.rows = rows
        self.index = index
        commandCounts = Self.ranked(byCommand)
        zombieCounts = Self.ranked(byZombie)
    }

    static func ranked(_ d: [String: Int]) -> [(name: String, count: Int)] {
        d.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// The rows shown: indices into the snapshot's rows, in table order. Filtering and sorting
/// move integers, not rows.
public struct TopRows: RandomAccessCollection, Sendable {
    let base: [TopRow]
    let order: [Int]

    init(base: [TopRow] = [], order: [Int] = []) {
        self.base = base
        self.order = order
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { order.count }
    public subscript(i: Int) -> TopRow { base[order[i]] }
}
