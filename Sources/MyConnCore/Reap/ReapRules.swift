import MySQLSessions
import SocketModel

/// One session (or a socket without one) as `reap` judges it: the snapshot's view of it and the
/// facts the rules read besides the processlist row.
public struct ReapCandidate: Sendable, Equatable {
    /// nil for a socket of mysqld's that belongs to no session (or any socket in kernel-only mode).
    public var session: SessionView?
    /// The sessionless socket; for a session, its socket is `session.socket`.
    public var orphanSocket: SocketView?
    /// `program_name` from `session_connect_attrs`, when `--program`/`--ignore-program` ask for it.
    public var program: String?
    /// Age of the session's open InnoDB transaction, seconds (`--trx-time`); nil: none, or not read.
    public var transactionSeconds: Int64?

    public init(session: SessionView?, orphanSocket: SocketView? = nil, program: String? = nil, transactionSeconds: Int64? = nil) {
        precondition(session != nil || orphanSocket != nil, "a candidate is a session or a socket")
        self.session = session
        self.orphanSocket = orphanSocket
        self.program = program
        self.transactionSeconds = transactionSeconds
    }

    public var socket: SocketView? { session?.socket ?? orphanSocket }
    public var row: ProcessListRow? { session?.row }
    /// The zombie classes the list join gave it (for a socket of kernel-only mode, its TCP state's).
    public var zombie: [ZombieClass] {
        if let session { return session.zombie }
        guard let s = orphanSocket else { return [] }
        return s.zombie ?? ZombieRules.socketClasses(state: s.tcpState, health: s.health)
    }
}

/// What `reap --group-by` puts sessions into classes by (pt-kill's): the column's value, or the
/// statement's fingerprint (literals replaced by `?`).
public enum ReapGroupBy: String, Sendable, CaseIterable {
    case id, user, host, db, command, time, state, info, fingerprint

    func key(_ row: ProcessListRow?) -> String {
        guard let row else { return "NULL" }
        let value: String?
        switch self {
        case .id: value = String(row.id)
        case .user: value = row.user
        case .host: value = row.host
        case .db: value = row.db
        case .command: value = row.command
        case .time: value = row.time.map(String.init)
        case .state: value = row.state
        case .info: value = row.info
        case .fingerprint: value = row.info.map(StatementFingerprint.of)
        }
        return value.flatMap { $0.isEmpty ? nil : $0 } ?? "NULL"
    }
}

/// Which matching sessions of a class are victims (pt-kill's `--victims`), oldest by TIME first.
public enum ReapVictims: String, Sendable, CaseIterable {
    case oldest, all
    case allButOldest = "all-but-oldest"
}

/// `reap`'s rules. Every rule given must hold (AND): a session matches when each of its
/// selectors, times and socket rules says yes and no `--ignore-*` matcher does. pt-kill instead
/// counts a row as matched when any one of its criteria applies (its `--busy-time` says nothing
/// of a Sleep row, so `--busy-time 60 --match-user app` kills app's idle sessions too).
/// Replication and server threads, and myconn's own session, are never candidates.
public struct ReapRules: Sendable {
    /// `--zombie` classes and the `--match-*`/`--client`/`--program` matchers.
    public var selection = SessionSelection()
    /// `--ignore-*`: a session any one of these matches is never a victim.
    public var ignore = SessionMatcher()
    /// `--busy-time`: COMMAND Query or Execute for at least this many seconds (TIME >= S).
    public var busyTime: Int64?
    /// `--idle-time`: COMMAND Sleep for at least this many seconds.
    public var idleTime: Int64?
    /// `--idle-since-recv`: nothing received on the TCP socket for at least this many seconds
    /// (tcp_info); for a socket without a session, nothing sent either.
    public var idleSinceReceive: Double?
    /// `--trx-time`: an InnoDB transaction open at least this many seconds.
    public var transactionTime: Int64?
    /// Class rules (pt-kill's): over the matching sessions of each `--group-by` class.
    public var groupBy: ReapGroupBy?
    public var queryCount: Int?
    /// A class matches when any (each) of its matching sessions has TIME > S.
    public var anyBusyTime: Int64?
    public var eachBusyTime: Int64?
    public var victims: ReapVictims = .oldest

    public init() {}

    /// Whether any rule that picks sessions is given (a reaper without one would take every session).
    public var hasRule: Bool {
        !selection.isEmpty || busyTime != nil || idleTime != nil || idleSinceReceive != nil || transactionTime != nil
    }

    /// Whether the rules can be judged from the kernel alone (no processlist): only socket rules.
    public var kernelOnly: Bool {
        let m = selection.matcher
        let sqlClasses: Set<ZombieClass> = [.idle, .orphanSession, .orphanSocket]
        return hasRule && busyTime == nil && idleTime == nil && transactionTime == nil && ignore.isEmpty
            && m.user == nil && m.db == nil && m.host == nil && m.command == nil && m.info == nil && m.state == nil
            && m.program == nil && (selection.classes.map { Set($0).isDisjoint(with: sqlClasses) } ?? true)
    }

    public var needsPrograms: Bool { selection.matcher.program != nil || ignore.program != nil }
    public var needsTransactions: Bool { transactionTime != nil }

    /// Why the candidate matches, one reason per rule given, in a fixed order; nil when a rule
    /// does not hold, an ignore matcher matches, or the candidate is never a victim.
    public func reasons(_ c: ReapCandidate) -> [String]? {
        let command = c.row?.command ?? ""
        let time = c.row?.time ?? 0
        // The cheap rules first: at 10,000 sessions most fail here, before any text is parsed.
        if let busyTime, !((command == "Query" || command == "Execute") && time >= busyTime) { return nil }
        if let idleTime, !(command == "Sleep" && time >= idleTime) { return nil }
        var out: [String] = []
        var endpoint = SessionEndpoint.none
        if let session = c.session {
            let row = session.row
            if let m = row.command, SessionMatcher.protectedCommands.contains(m) { return nil }
            endpoint = SessionEndpoint(host: row.host)
            if case .none = endpoint { return nil }
            if !ignore.isEmpty {
                for m in ignore.single where m.matchesFields(session, endpoint: endpoint, program: c.program) { return nil }
            }
        } else if let s = c.orphanSocket {
            // A socket without a session has no row for the other rules to hold on, nor for an
            // --ignore-* of a session's text to protect it by: with one given, it is never a victim.
            guard selection.matcher.onlyAddresses, ignore.onlyAddresses, busyTime == nil, idleTime == nil, transactionTime == nil else {
                return nil
            }
            if !ignore.isEmpty { for m in ignore.single where m.matches(socket: s) { return nil } }
        }
        if let classes = selection.classes {
            let hit = c.zombie.filter(classes.contains)
            guard !hit.isEmpty else { return nil }
            out.append("zombie " + hit.map(\.rawValue).joined(separator: ","))
        }
        let m = selection.matcher
        if !m.isEmpty {
            if let session = c.session {
                guard m.matchesFields(session, endpoint: endpoint, program: c.program) else { return nil }
            } else if let s = c.orphanSocket {
                guard m.matches(socket: s) else { return nil }
            }
            out.append(contentsOf: m.given)
        }
        if let busyTime {
            guard command == "Query" || command == "Execute", time >= busyTime else { return nil }
            out.append("busy-time \(busyTime) (\(command) \(time) s)")
        }
        if let idleTime {
            guard command == "Sleep", time >= idleTime else { return nil }
            out.append("idle-time \(idleTime) (Sleep \(time) s)")
        }
        if let idleSinceReceive {
            guard let h = c.socket?.health, Double(h.lastReceiveMilliseconds) >= idleSinceReceive * 1000 else { return nil }
            // A socket without a session could be a replica's binlog dump, which receives nothing
            // but is sent events (or heartbeats): silent both ways, or it is no victim.
            if c.session == nil, Double(h.lastSendMilliseconds) < idleSinceReceive * 1000 { return nil }
            out.append("idle-since-recv \(Self.seconds(idleSinceReceive)) (\(h.lastReceiveMilliseconds / 1000) s)")
        }
        if let transactionTime {
            guard let t = c.transactionSeconds, t >= transactionTime else { return nil }
            out.append("trx-time \(transactionTime) (transaction \(t) s)")
        }
        return out
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? String(Int64(s)) : String(s)
    }
}

extension SessionMatcher {
    /// Each matcher given on its own: an `--ignore-*` set excludes a session when any one says yes.
    var single: [SessionMatcher] {
        var out: [SessionMatcher] = []
        func add(_ set: (inout SessionMatcher) -> Void) {
            var m = SessionMatcher()
            set(&m)
            out.append(m)
        }
        if let v = user { add { $0.user = v } }
        if let v = db { add { $0.db = v } }
        if let v = host { add { $0.host = v } }
        if let v = command { add { $0.command = v } }
        if let v = info { add { $0.info = v } }
        if let v = state { add { $0.state = v } }
        if let v = program { add { $0.program = v } }
        if client != nil || clientPort != nil { add { $0.client = client; $0.clientPort = clientPort } }
        return out
    }

    /// The matchers given, as reasons ("match-user app").
    var given: [String] {
        var out: [String] = []
        for (name, v) in [("match-user", user), ("match-db", db), ("match-host", host), ("match-command", command),
                          ("match-info", info), ("match-state", state), ("program", program)] {
            if let v { out.append("\(name) \(v.description)") }
        }
        if let client { out.append("client \(client.description)") }
        if let clientPort { out.append("client-port \(clientPort)") }
        return out
    }
}
