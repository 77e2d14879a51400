import MyConnCore

/// A snapshot made ready for the table on the refresher's thread: its rows and the header's
/// counts. Everything here grows with the number of sessions, so none of it is
/// done on the thread that answers keys (at 10,000 sessions it took that thread tens of
/// milliseconds per refresh, measured by `bench/list.sh`'s "key ms").
public struct PreparedSnapshot: Sendable {
    public let snapshot: Snapshot
    /// Every row of the report, sessions first; empty without a report.
    let rows: [TopRow]
    /// Sessions by COMMAND, and zombies (sessions' and sockets') by class, most first.
    let commandCounts: [(name: String, count: Int)]
    let zombieCounts: [(name: String, count: Int)]

    public init(_ snapshot: Snapshot) {
        self.snapshot = snapshot
        guard let report = snapshot.report else {
            rows = []
            commandCounts = []
            zombieCounts = []
            return
        }
        var rows: [TopRow] = []
        rows.reserveCapacity(report.sessions.count + report.unmatchedSockets.count)
        // Counted without hashing a string per session: a handful of commands, and the zombie
        // classes by their place in allCases (this runs once per refresh over every session).
        var commands: [(name: String, count: Int)] = []
        var zombies = [Int](repeating: 0, count: ZombieClass.allCases.count)
        let classIndex = Dictionary(uniqueKeysWithValues: ZombieClass.allCases.enumerated().map { ($1, $0) })
        var last = -1
        for s in report.sessions {
            rows.append(TopRow(key: .session(s.row.id), session: s, socket: s.socket))
            let command = s.row.command ?? "?"
            if last >= 0 && commands[last].name == command {
                commands[last].count += 1
            } else if let i = commands.firstIndex(where: { $0.name == command }) {
                commands[i].count += 1
                last = i
            } else {
                commands.append((command, 1))
                last = commands.count - 1
            }
            for z in s.zombie { zombies[classIndex[z]!] += 1 }
        }
        for k in report.unmatchedSockets {
            for z in k.zombie ?? [] { zombies[classIndex[z]!] += 1 }
            if let inode = k.inode { rows.append(TopRow(key: .socket(inode: inode), session: nil, socket: k)) }
        }
        self.rows = rows
        commandCounts = Self.ranked(commands)
        zombieCounts = Self.ranked(ZombieClass.allCases.enumerated().filter { zombies[$0.offset] > 0 }.map { ($0.element.rawValue, zombies[$0.offset]) })
    }

    static func ranked(_ d: [(name: String, count: Int)]) -> [(name: String, count: Int)] {
        d.sorted { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }
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
