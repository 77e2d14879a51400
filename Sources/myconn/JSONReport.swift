import FoundationEssentials
import MyConnCore

/// `myconn list --json`: the contract documented in README.md. Unknown values are `null`, never absent.
enum JSONReport {
    static func render(_ report: ListReport) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(Document(report: report)) else {
            preconditionFailure("encoding plain strings and numbers cannot fail")
        }
        return String(decoding: data, as: UTF8.self)
    }

    struct Document: Encodable {
        let report: ListReport

        enum Keys: String, CodingKey {
            case server, sessions, unmatchedSockets = "unmatched_sockets", listeningSockets = "listening_sockets", warnings
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(Server(view: report.server), forKey: .server)
            try c.encode(report.sessions.map(Session.init), forKey: .sessions)
            try c.encode(report.unmatchedSockets.map(Socket.init), forKey: .unmatchedSockets)
            try c.encode(report.listeningSockets.map(Socket.init), forKey: .listeningSockets)
            try c.encode(report.warnings, forKey: .warnings)
        }
    }

    struct Server: Encodable {
        let view: ServerView
        enum Keys: String, CodingKey { case pid, version, port }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(view.pid, forKey: .pid)
            try c.encode(view.version, forKey: .version)
            try c.encode(view.port, forKey: .port)
        }
    }

    struct Session: Encodable {
        let view: SessionView
        enum Keys: String, CodingKey {
            case id, user, host, db, command, time, state, info, transport, fd, inode, local, peer
            case tcpState = "tcp_state", sendQueue = "send_queue", recvQueue = "recv_queue", match, unresolved
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            let r = view.row
            try c.encode(r.id, forKey: .id)
            try c.encode(r.user, forKey: .user)
            try c.encode(r.host, forKey: .host)
            try c.encode(r.db, forKey: .db)
            try c.encode(r.command, forKey: .command)
            try c.encode(r.time, forKey: .time)
            try c.encode(r.state, forKey: .state)
            try c.encode(r.info, forKey: .info)
            try c.encode(view.socket?.transport ?? view.transport, forKey: .transport)
            try Socket.encodeKernelFields(view.socket, into: &c, fd: .fd, inode: .inode, local: .local, peer: .peer,
                                          tcpState: .tcpState, sendQueue: .sendQueue, recvQueue: .recvQueue)
            try c.encode(view.match, forKey: .match)
            try c.encode(view.unresolved, forKey: .unresolved)
        }
    }

    struct Socket: Encodable {
        let view: SocketView
        enum Keys: String, CodingKey {
            case fd, inode, transport, local, peer
            case tcpState = "tcp_state", sendQueue = "send_queue", recvQueue = "recv_queue"
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(view.transport, forKey: .transport)
            try Self.encodeKernelFields(view, into: &c, fd: .fd, inode: .inode, local: .local, peer: .peer,
                                        tcpState: .tcpState, sendQueue: .sendQueue, recvQueue: .recvQueue)
        }

        /// The kernel columns, shared by sessions and bare sockets so both spell them alike.
        static func encodeKernelFields<K: CodingKey>(
            _ s: SocketView?, into c: inout KeyedEncodingContainer<K>,
            fd: K, inode: K, local: K, peer: K, tcpState: K, sendQueue: K, recvQueue: K
        ) throws {
            try c.encode(s?.fd, forKey: fd)
            try c.encode(s?.inode, forKey: inode)
            try c.encode(s?.local, forKey: local)
            try c.encode(s?.peer, forKey: peer)
            try c.encode(s?.tcpState?.description, forKey: tcpState)
            try c.encode(s?.sendQueue, forKey: sendQueue)
            try c.encode(s?.recvQueue, forKey: recvQueue)
        }
    }
}
