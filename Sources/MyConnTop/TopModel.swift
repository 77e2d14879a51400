import MyConnCore

/// A row of `top` stays itself across refreshes by this: a session by its id (ids are never
/// reused), a socket without a session by its inode.
public enum RowKey: Hashable, Sendable {
    case session(UInt64)
    case socket(inode: UInt64)
}

/// One line of the table: a session (with its socket when proven) or a socket of mysqld that
/// belongs to no session (the only rows in the kernel-only view).
public struct TopRow: Sendable, Equatable {
    public var key: RowKey
    public var session: SessionView?
    /// A socket without a session (a session's own is in `session`: not kept twice).
    var unmatched: SocketView?

    /// The row's socket: the session's, or the socket without a session.
    public var socket: SocketView? { session?.socket ?? unmatched }

    init(key: RowKey, session: SessionView?, socket: SocketView?) {
        self.key = key
        self.session = session
        unmatched = session == nil ? socket : nil
    }

    public var zombie: [ZombieClass] { session?.zombie ?? socket?.zombie ?? [] }
    public var isZombie: Bool { !zombie.isEmpty }
}

/// What `s` cycles through; the first is the default (longest-running first, as innotop).
public enum SortColumn: String, CaseIterable, Sendable {
    case time = "TIME", id = "ID", user = "USER", host = "HOST", db = "DB", command = "COMMAND", state = "STATE",
         fd = "FD", zombie = "ZOMBIE", rtt = "RTT", lastReceive = "LAST_RECV"
}

/// The state of `top`'s table, apart from any terminal: the last complete snapshot, and what the
/// person did to it (sort, filters, cursor, marks). Everything the keys change is here, so it is
/// tested without a screen.
public struct TopModel {
    public private(set) var snapshot: Snapshot?
    /// The last snapshot with a report, made ready on the refresher's thread.
    private var source: PreparedSnapshot?
    /// Every row of the snapshot, before filters, made once per snapshot.
    public var allRows: [TopRow] { source?.rows ?? [] }
    /// The rows shown, filtered and sorted.
    public private(set) var rows = TopRows()
    /// The row under the cursor, by key: it stays on its session across refreshes.
    public private(set) var cursor: RowKey?
    public private(set) var marks: Set<RowKey> = []
    public var sort: SortColumn = .time
    /// Ascending instead of the column's natural order (TIME, RTT and LAST_RECV descending).
    public var reversed = false
    public private(set) var filterText: String?
    private var filter: Regex<AnyRegexOutput>?
    public var zombiesOnly = false
    public var hideIdle = false
    /// The cursor's index before the last change, to stay near it when its row goes.
    private var cursorIndex = 0

    public init() {}

    /// Sessions by COMMAND and zombies by class in the last report, most first.
    public var commandCounts: [(name: String, count: Int)] { source?.commandCounts ?? [] }
    public var zombieCounts: [(name: String, count: Int)] { source?.zombieCounts ?? [] }

    /// Takes a new snapshot; the cursor stays on its row (or near where it was), marks of rows
    /// that are gone are dropped. A snapshot with no report (server unavailable) keeps the rows.
    public mutating func apply(_ snapshot: Snapshot) { _ = apply(PreparedSnapshot(snapshot)) }

    /// As `apply(_ snapshot:)`, with the rows made elsewhere. - Returns: the prepared snapshot
    /// this one replaces, for the caller to let go of where freeing 10,000 rows costs no key.
    public mutating func apply(_ prepared: PreparedSnapshot) -> PreparedSnapshot? {
        snapshot = prepared.snapshot
        guard prepared.snapshot.report != nil else { return nil }
        let old = source
        source = prepared
        recompute()
        return old
    }

    /// Sets the filter from a regular expression (case-insensitive) over user, host, db, state
    /// and info; empty clears it. - Throws: the expression's error (the filter is unchanged).
    public mutating func setFilter(_ text: String) throws {
        if text.isEmpty {
            filter = nil
            filterText = nil
        } else {
            filter = try Regex(text).ignoresCase()
            filterText = text
        }
        recompute()
    }

    /// `\`: no filter, no zombies-only, idle shown.
    public mutating func clearFilters() {
        filter = nil
        filterText = nil
        zombiesOnly = false
        hideIdle = false
        recompute()
    }

    public mutating func cycleSort() {
        let all = SortColumn.allCases
        sort = all[(all.firstIndex(of: sort)! + 1) % all.count]
        recompute()
    }

    public mutating func toggleZombiesOnly() { zombiesOnly.toggle(); recompute() }
    public mutating func toggleHideIdle() { hideIdle.toggle(); recompute() }
    public mutating func reverse() { reversed.toggle(); recompute() }

    /// The row of `key` in the last report, shown or not.
    public func row(_ key: RowKey) -> TopRow? { allRows.first { $0.key == key } }

    public var cursorRow: Int? {
        guard let c = cursor else { return nil }
        if cursorIndex < rows.count && rows[cursorIndex].key == c { return cursorIndex }
        return rows.firstIndex { $0.key == c }
    }

    /// Moves the cursor by `delta` rows (PgUp/PgDn pass a page), clamped to the table.
    public mutating func move(by delta: Int) {
        guard !rows.isEmpty else { return }
        let at = cursorRow ?? 0
        setCursor(min(max(0, at + delta), rows.count - 1))
    }

    public mutating func moveToStart() { if !rows.isEmpty { setCursor(0) } }
    public mutating func moveToEnd() { if !rows.isEmpty { setCursor(rows.count - 1) } }

    /// Space: marks or unmarks the row under the cursor, then moves down one.
    public mutating func toggleMark() {
        guard let c = cursor else { return }
        if marks.contains(c) { marks.remove(c) } else { marks.insert(c) }
        move(by: 1)
    }

    /// What an action acts on: the marked rows (in table order), or the one under the cursor.
    public var actionRows: [TopRow] {
        let marked = rows.filter { marks.contains($0.key) }
        if !marked.isEmpty { return marked }
        return cursorRow.map { [rows[$0]] } ?? []
    }

    public mutating func clearMarks() { marks = [] }

    private mutating func setCursor(_ i: Int) {
        cursor = rows[i].key
        cursorIndex = i
    }

    /// Filters and sorts ``allRows`` into ``rows``, as indices. Each row's sort key is read once
    /// and the indices sorted by it: a key answers within milliseconds at 10,000 sessions.
    mutating func recompute() {
        let all = allRows
        var kept = all.indices.filter { keep(all[$0]) }
        sortIndices(&kept)
        rows = TopRows(base: all, order: kept)
        if !marks.isEmpty {
            // Marks are few: each looked up in the rows kept.
            let marked = marks
            let shown = Set(kept.lazy.map { all[$0].key }.filter { marked.contains($0) })
            marks = marks.filter { shown.contains($0) }
        }
        if let c = cursor, let i = rows.firstIndex(where: { $0.key == c }) {
            cursorIndex = i
        } else if !rows.isEmpty {
            setCursor(min(cursorIndex, rows.count - 1))
        } else {
            cursor = nil
        }
    }

    func keep(_ r: TopRow) -> Bool {
        if zombiesOnly && !r.isZombie { return false }
        if hideIdle, let s = r.session, s.row.command == "Sleep" { return false }
        guard let filter else { return true }
        guard let s = r.session else { return false }
        let row = s.row
        for field in [row.user, row.host, row.db, row.state, row.info] {
            if let field, field.contains(filter) { return true }
        }
        return false
    }

    /// The column's natural order (reversed with `r`; missing values last either way); ties by
    /// session id, sockets last.
    func sortIndices(_ idx: inout [Int]) {
        let rows = allRows
        func by<T: Comparable>(descending: Bool = false, _ key: (TopRow) -> T?) {
            let keys = rows.map(key)
            let down = descending != reversed
            idx.sort { a, b in
                switch (keys[a], keys[b]) {
                case (nil, nil): return Self.tieBreak(rows[a], rows[b])
                case (nil, _): return false
                case (_, nil): return true
                case (let x?, let y?): return x == y ? Self.tieBreak(rows[a], rows[b]) : (x < y) != down
                }
            }
        }
        switch sort {
        case .time: by(descending: true) { $0.session?.row.time }
        case .id: by { r -> UInt64? in r.session?.row.id }
        case .user: by { $0.session?.row.user }
        case .host: by { $0.session?.row.host }
        case .db: by { $0.session?.row.db }
        case .command: by { $0.session?.row.command }
        case .state: by { $0.session?.row.state }
        case .fd: by { $0.socket?.fd }
        case .zombie: by { r -> String? in r.zombie.isEmpty ? nil : r.zombie.map(\.rawValue).joined(separator: ",") }
        case .rtt: by(descending: true) { $0.socket?.health?.rttMicroseconds }
        case .lastReceive: by(descending: true) { $0.socket?.health?.lastReceiveMilliseconds }
        }
    }

    static func tieBreak(_ a: TopRow, _ b: TopRow) -> Bool {
        switch (a.key, b.key) {
        case (.session(let x), .session(let y)): return x < y
        case (.session, .socket): return true
        case (.socket, .session): return false
        case (.socket(let x), .socket(let y)): return x < y
        }
    }
}
