import MySQLSessions
import ProcFS

/// A session or socket whose other end is gone, unreachable, or never was. Each class is one
/// documented rule over the list report (README.md, "Zombies").
public enum ZombieClass: String, Sendable, CaseIterable, Comparable {
    /// The session's socket is in CLOSE_WAIT: the client sent FIN, the session still exists
    /// (typically a query whose result no one will read).
    case clientGone = "client-gone"
    /// Data unacknowledged and being retransmitted (`unacked > 0 && retransmits > 0`), or two or
    /// more keepalive or zero-window probes unanswered (`probes >= 2`): the client host or the
    /// network is gone.
    case peerUnreachable = "peer-unreachable"
    /// An established socket of mysqld that belongs to no session (needs the whole processlist:
    /// PROCESS privilege).
    case orphanSocket = "orphan-socket"
    /// A TCP session whose socket no longer exists in mysqld's namespace.
    case orphanSession = "orphan-session"
    /// `Sleep` for at least `--idle SECONDS` (TIME >= N, as pt-kill's `--idle-time`).
    case idle

    /// The rule that puts a session or socket in this class, in one line (README.md, "Zombies").
    public var rule: String {
        switch self {
        case .clientGone: return "its socket is in CLOSE_WAIT: the client sent FIN and the session is still there"
        case .peerUnreachable: return "data unacknowledged and retransmitted, or 2 or more probes unanswered: the client host or the network is gone"
        case .orphanSocket: return "an established socket of mysqld that belongs to no session"
        case .orphanSession: return "a TCP session whose socket no longer exists in mysqld's namespace"
        case .idle: return "Sleep for at least --idle seconds"
        }
    }

    public static func < (a: ZombieClass, b: ZombieClass) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses `client-gone,idle`.
    public static func parseList(_ text: String) -> [ZombieClass]? {
        let parts = text.split(separator: ",").map { ZombieClass(rawValue: String($0.drop { $0 == " " })) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.compactMap { $0 }
    }
}

public enum ZombieRules {
    /// The classes of one socket's TCP state and health.
    static func socketClasses(state: TCPState?, health: TCPHealth?) -> [ZombieClass] {
        var out: [ZombieClass] = []
        if state == .closeWait { out.append(.clientGone) }
        // Unacknowledged data retransmitted, or probes unanswered. `tcpi_probes` (keepalive or
        // zero-window probes) is reset by any ACK, so a live peer, even one that does not read,
        // never lets two go unanswered; one may merely be in flight.
        if let h = health, (h.unacked > 0 && h.retransmits > 0) || h.probes >= 2 {
            out.append(.peerUnreachable)
        }
        return out
    }

    static func classes(of s: borrowing SessionView, idleSeconds: Int64?) -> [ZombieClass] {
        var classes = socketClasses(state: s.socket?.tcpState, health: s.socket?.health)
        if s.socketMissing { classes.append(.orphanSession) }
        if let idleSeconds, s.row.command == "Sleep", let t = s.row.time, t >= idleSeconds { classes.append(.idle) }
        return classes.count > 1 ? classes.sorted() : classes
    }

    /// Classifies every session and unmatched socket of a report, in place.
    /// - Parameters:
    ///   - completeProcessList: the processlist shows every session (PROCESS privilege); without
    ///     it no socket can be called an orphan.
    ///   - idleSeconds: `--idle`; nil: no session is `idle`.
    public static func classify(_ report: inout ListReport, completeProcessList: Bool, idleSeconds: Int64?) {
        // Fields read in place through the buffer: indexing the report's arrays copied each
        // session value (its row's strings retained), which cost more than its rules.
        report.sessions.withUnsafeMutableBufferPointer { sessions in
            for i in sessions.indices {
                let classes = classes(of: sessions[i], idleSeconds: idleSeconds)
                sessions[i].zombie = classes
            }
        }
        let orphans = completeProcessList && report.server.sql
        report.unmatchedSockets.withUnsafeMutableBufferPointer { sockets in
            for i in sockets.indices {
                let state = sockets[i].tcpState
                var classes = socketClasses(state: state, health: sockets[i].health)
                if orphans && state == .established { classes.append(.orphanSocket) }
                sockets[i].zombie = classes.count > 1 ? classes.sorted() : classes
            }
        }
    }
}
