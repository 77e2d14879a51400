import MySQLSessions

/// A value a matcher compares with: the whole text exactly, or, written `/like this/`, a regular
/// expression found anywhere in it (anchor it with `^` and `$`; `(?i)` ignores case). A NULL
/// value matches nothing.
public struct TextMatch: @unchecked Sendable, CustomStringConvertible {
    public let description: String
    /// Set for `/regex/` (and for matchers that only take expressions); immutable after init,
    /// so it is read from any thread.
    private let regex: Regex<AnyRegexOutput>?
    private let exact: String?

    /// - Parameter alwaysRegex: the text is an expression even without slashes (`--match-info`).
    /// - Throws: the expression's own error, for a one-line message.
    public init(_ text: String, alwaysRegex: Bool = false) throws {
        description = text
        if text.count >= 2 && text.hasPrefix("/") && text.hasSuffix("/") {
            regex = try Regex(String(text.dropFirst().dropLast()))
            exact = nil
        } else if alwaysRegex {
            regex = try Regex(text)
            exact = nil
        } else {
            regex = nil
            exact = text
        }
    }

    public func matches(_ value: String?) -> Bool {
        guard let value else { return false }
        if let exact { return value == exact }
        return (try? regex?.firstMatch(in: value)) != nil
    }
}

/// What the matchers of `kill`, `close`, `probe` and `fault` (and `reap` and `top` after them)
/// compare: each given one must hold (AND, never pt-kill's OR). The client's address is the
/// session's peer as mysqld's kernel has it, which is what the client reads from its own socket
/// (`getsockname`) unless a proxy or NAT sits between.
public struct SessionMatcher: Sendable {
    public var user: TextMatch?
    public var db: TextMatch?
    /// The client's address without the port (HOST's part before it: an address, a name, or
    /// `localhost` for the unix socket). An address given here matches its IPv4-mapped twin.
    public var host: TextMatch?
    public var command: TextMatch?
    public var info: TextMatch?
    public var state: TextMatch?
    /// The client's own end, ADDR:PORT.
    public var client: SocketAddress?
    public var clientPort: UInt16?
    /// `program_name` from `performance_schema.session_connect_attrs`.
    public var program: TextMatch?

    public init() {}

    /// No matcher given.
    public var isEmpty: Bool {
        user == nil && db == nil && host == nil && command == nil && info == nil && state == nil
            && client == nil && clientPort == nil && program == nil
    }

    /// Whether only a socket's address is asked about (a socket without a session can match).
    var onlyAddresses: Bool {
        user == nil && db == nil && host == nil && command == nil && info == nil && state == nil && program == nil
    }

    /// Threads a matcher never selects, whatever it says: the server's own and replication's. A
    /// replica's `Binlog Dump` has a client, but cutting it is a replication outage, not a
    /// session drop: name it by id to mean it.
    public static let protectedCommands: Set<String> = [
        "Daemon", "Binlog Dump", "Binlog Dump GTID", "Slave_IO", "Slave_SQL", "Slave_worker", "Connect Out", "Register Slave",
    ]

    /// Whether the session matches every matcher given. `program` is the session's
    /// program_name (nil: none, or not looked up).
    public func matches(_ s: SessionView, program: String? = nil) -> Bool {
        if let c = s.row.command, Self.protectedCommands.contains(c) { return false }
        let endpoint = SessionEndpoint(host: s.row.host)
        if case .none = endpoint { return false }  // no client: a server thread
        return matchesFields(s, endpoint: endpoint, program: program)
    }

    /// The matchers alone, for a caller that has already ruled out protected and server threads
    /// and parsed HOST (`reap`'s rules, once per candidate).
    func matchesFields(_ s: SessionView, endpoint: SessionEndpoint, program: String?) -> Bool {
        let row = s.row
        if let user, !user.matches(row.user) { return false }
        if let db, !db.matches(row.db) { return false }
        if let command, !command.matches(row.command) { return false }
        if let info, !info.matches(row.info) { return false }
        if let state, !state.matches(row.state) { return false }
        if let m = self.program, !m.matches(program) { return false }
        if let host, !Self.host(host, matches: endpoint) { return false }
        if client != nil || clientPort != nil {
            let peer: SocketAddress? = s.socket?.peer ?? { if case .tcp(let a) = endpoint { return a } else { return nil } }()
            guard addressMatches(peer) else { return false }
        }
        return true
    }

    /// For a socket without a session: only `--client` and `--client-port` can say yes.
    public func matches(socket: SocketView) -> Bool {
        onlyAddresses && (client != nil || clientPort != nil) && addressMatches(socket.peer)
    }

    private func addressMatches(_ peer: SocketAddress?) -> Bool {
        guard let peer else { return false }
        if let clientPort, peer.port != clientPort { return false }
        if let client, client.normalized != peer.normalized { return false }
        return true
    }

    static func host(_ m: TextMatch, matches endpoint: SessionEndpoint) -> Bool {
        switch endpoint {
        case .tcp(let a):
            if let want = IPAddress(text: m.description) { return want.normalized == a.ip.normalized }
            return m.matches(a.ip.description) || m.matches(a.ip.normalized.description)
        case .named(let name, _): return m.matches(name)
        case .unixSocket: return m.matches("localhost")
        case .none: return false
        case .unparsable(let text): return m.matches(text)
        }
    }
}

/// What a command selects sessions by, besides ids and the kernel's `--peer`/`--fd`: zombie
/// classes and matchers, all of which must hold.
public struct SessionSelection: Sendable {
    public var classes: [ZombieClass]?
    public var matcher: SessionMatcher

    public init(classes: [ZombieClass]? = nil, matcher: SessionMatcher = SessionMatcher()) {
        self.classes = classes
        self.matcher = matcher
    }

    public var isEmpty: Bool { classes == nil && matcher.isEmpty }

    /// The sessions and sessionless sockets of `report` selected; myconn's own session never.
    /// `programs`: program_name by session id, when `--program` is given.
    public func select(_ report: ListReport, programs: [UInt64: String] = [:]) -> (sessions: [SessionView], sockets: [SocketView]) {
        let sessions = report.sessions.filter { s in
            guard s.row.id != report.selfConnectionID else { return false }
            if let classes, Set(s.zombie).isDisjoint(with: classes) { return false }
            return matcher.isEmpty || matcher.matches(s, program: programs[s.row.id])
        }
        let sockets = report.unmatchedSockets.filter { k in
            if let classes {
                guard let z = k.zombie, !Set(z).isDisjoint(with: classes) else { return false }
                return matcher.isEmpty || matcher.matches(socket: k)
            }
            return !matcher.isEmpty && matcher.matches(socket: k)
        }
        return (sessions, sockets)
    }
}
