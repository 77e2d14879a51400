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
    static func socketClasses(_ s: SocketView?) -> [ZombieClass] {
        guard let s else { return [] }
        var out: [ZombieClass] = []
        if s.tcpState == .closeWait { out.append(.clientGone) }
        // Unacknowledged data retransmitted, or probes unanswered. `tcpi_probes` (keepalive or
        // zero-window probes) is reset by any ACK, so a live peer, even one that does not read,
        // never lets two go unanswered; one may merely be in flight.
        if let h = s.health, (h.unacked > 0 && h.retransmits > 0) || h.probes >= 2 {
            out.append(.peerUnreachable)
        }
        return out
    }

    /// Classifies every session and unmatched socket of a report, in place.
    /// - Parameters:
    ///   - completeProcessList: the processlist shows every session (PROCESS privilege); without
    ///     it no socket can be called an orphan.
    ///   - idleSeconds: `--idle`; nil: no session is `idle`.
    public static func classify(_ report: inout ListReport, completeProcessList: Bool, idleSeconds: Int64?) {
        for i in report.sessions.indices {
            let s = report.sessions[i]
            var classes = socketClasses(s.socket)
            if s.socketMissing { classes.append(.orphanSession) }
            if let idleSeconds, s.row.command == "Sleep", let t = s.row.time, t >= idleSeconds { classes.append(.idle) }
            report.sessions[i].zombie = classes.sorted()
        }
        for i in report.unmatchedSockets.indices {
            let socket = report.unmatchedSockets[i]
            var classes = socketClasses(socket)
            if completeProcessList && report.server.sql && socket.tcpState == .established { classes.append(.orphanSocket) }
            report.unmatchedSockets[i].zombie = classes.sorted()
        }
    }
}
