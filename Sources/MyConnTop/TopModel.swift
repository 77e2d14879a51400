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
    public var socket: SocketView?

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
    /// The rows shown, filtered and sorted.
    public private(set) var rows: [TopRow] = []
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

    /// Takes a new snapshot; the cursor stays on its row (or near where it was), marks of rows
    /// that are gone are dropped. A snapshot with no report (server unavailable) keeps the rows.
    public mutating func apply(_ snapshot: Snapshot) {
        self.snapshot = snapshot
        guard snapshot.report != nil else { return }
        recompute()
    }

    /// Every row of the snapshot, before filters.
    public var allRows: [TopRow] {
        guard let report = snapshot?.report else { return [] }
        var out: [TopRow] = []
        out.reserveCapacity(report.sessions.count + report.unmatchedSockets.count)
        for s in report.sessions { out.append(TopRow(key: .session(s.row.id), session: s, socket: s.socket)) }
        for k in report.unmatchedSockets {
            if let inode = k.inode { out.append(TopRow(key: .socket(inode: inode), session: nil, socket: k)) }
        }
        return out
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

    public var cursorRow: Int? { cursor.flatMap { c in rows.firstIndex { $0.key == c } } }

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

    mutating func recompute() {
        var rows = allRows.filter(keep)
        rows.sort(by: ordered)
        self.rows = rows
        let present = Set(rows.map(\.key))
        marks = marks.filter { present.contains($0) }
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

    /// The column's natural order (reversed with `r`); ties by session id, sockets last.
    func ordered(_ a: TopRow, _ b: TopRow) -> Bool {
        let c = compare(a, b)
        if c != 0 { return reversed ? c > 0 : c < 0 }
        return tieBreak(a, b)
    }

    func tieBreak(_ a: TopRow, _ b: TopRow) -> Bool {
        switch (a.key, b.key) {
        case (.session(let x), .session(let y)): return x < y
        case (.session, .socket): return true
        case (.socket, .session): return false
        case (.socket(let x), .socket(let y)): return x < y
        }
    }

    /// < 0: a first. Missing values sort last in the natural order.
    func compare(_ a: TopRow, _ b: TopRow) -> Int {
        func cmp<T: Comparable>(_ x: T?, _ y: T?, descending: Bool = false) -> Int {
            switch (x, y) {
            case (nil, nil): return 0
            case (nil, _): return 1
            case (_, nil): return -1
            case (let x?, let y?): return x == y ? 0 : ((x < y) != descending ? -1 : 1)
            }
        }
        let ra = a.session?.row, rb = b.session?.row
        switch sort {
        case .time: return cmp(ra?.time, rb?.time, descending: true)
        case .id: return cmp(ra?.id, rb?.id)
        case .user: return cmp(ra?.user, rb?.user)
        case .host: return cmp(ra?.host, rb?.host)
        case .db: return cmp(ra?.db, rb?.db)
        case .command: return cmp(ra?.command, rb?.command)
        case .state: return cmp(ra?.state, rb?.state)
        case .fd: return cmp(a.socket?.fd, b.socket?.fd)
        case .zombie:
            return cmp(a.zombie.isEmpty ? nil : a.zombie.map(\.rawValue).joined(separator: ","),
                       b.zombie.isEmpty ? nil : b.zombie.map(\.rawValue).joined(separator: ","))
        case .rtt: return cmp(a.socket?.health?.rttMicroseconds, b.socket?.health?.rttMicroseconds, descending: true)
        case .lastReceive:
            return cmp(a.socket?.health?.lastReceiveMilliseconds, b.socket?.health?.lastReceiveMilliseconds, descending: true)
        }
    }
}
