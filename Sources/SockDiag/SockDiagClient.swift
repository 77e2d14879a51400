import SocketModel
import SystemPackage

/// Where sock_diag requests go and replies come from: the kernel's NETLINK_SOCK_DIAG socket
/// (LinuxKernel's `SockDiagSocket`), a ``RecordingTransport`` around one, or a
/// ``ReplayTransport`` of recorded replies.
public protocol SockDiagTransport: AnyObject {
    /// Sends one request (a whole netlink message).
    /// - Throws: `Errno` from the kernel.
    func send(_ request: [UInt8]) throws(Errno)
    /// The next reply datagram: one or more netlink messages.
    /// - Throws: `Errno` from the kernel.
    func receive() throws(Errno) -> [UInt8]
}

/// The sock_diag conversations myconn has (`sock_diag(7)`): dumps of TCP and unix sockets, and
/// SOCK_DESTROY, over any transport. Requests and replies are made and read by the pure codecs.
public final class SockDiagClient {
    public let transport: any SockDiagTransport
    private var sequence: UInt32 = 1
    /// Set once the kernel answered a both-families dump with an error (then each family is
    /// asked apart, silently: the answer is the same, one walk of the hash slower).
    public private(set) var bothFamiliesRefused = false

    public init(transport: any SockDiagTransport) {
        self.transport = transport
    }

    public enum DumpError: Error, Equatable, Sendable {
        case system(Errno)
        case reply(InetDiag.ReplyError)
    }

    /// All TCP sockets of `family` in `states`, with local port `sourcePort` when given.
    public func dumpTCP(family: UInt8, states: UInt32, sourcePort: UInt16?, withInfo: Bool = false) throws(DumpError) -> [TCPSocketEntry] {
        var rows: [TCPSocketEntry] = []
        try dumpTCP(family: family, states: states, sourcePort: sourcePort, withInfo: withInfo, into: &rows)
        return rows
    }

    /// ``dumpTCP(family:states:sourcePort:withInfo:)`` appending to `rows`.
    public func dumpTCP(family: UInt8, states: UInt32, sourcePort: UInt16?, withInfo: Bool = false,
                        into rows: inout [TCPSocketEntry]) throws(DumpError) {
        sequence += 1
        try dump(InetDiag.dumpRequest(family: family, states: states, sourcePort: sourcePort, sequence: sequence, withInfo: withInfo),
                 into: &rows, parse: InetDiag.parse(_:into:))
    }

    /// ``dumpTCP(family:states:sourcePort:withInfo:into:)`` for both families in one dump
    /// (``InetDiag/bothFamiliesDumpRequest(states:sourcePort:sequence:withInfo:)``: one walk of
    /// the kernel's socket hash, not one per family). A kernel that refuses that request (an
    /// `NLMSG_ERROR`, which also ends its dump) is asked once per family instead, then and for
    /// the rest of this client's life; rows of the refused dump are dropped first.
    public func dumpTCPBothFamilies(states: UInt32, sourcePort: UInt16?, withInfo: Bool = false,
                                    into rows: inout [TCPSocketEntry]) throws(DumpError) {
        if !bothFamiliesRefused {
            let mark = rows.count
            sequence += 1
            do {
                try dump(InetDiag.bothFamiliesDumpRequest(states: states, sourcePort: sourcePort, sequence: sequence,
                                                          withInfo: withInfo),
                         into: &rows, parse: InetDiag.parse(_:into:))
                return
            } catch .reply(.kernel) {
                rows.removeSubrange(mark...)
                bothFamiliesRefused = true
            }
        }
        for family in [InetDiag.afInet, InetDiag.afInet6] {
            try dumpTCP(family: family, states: states, sourcePort: sourcePort, withInfo: withInfo, into: &rows)
        }
    }

    /// The TCP sockets of `family` in `states` whose remote port is `port`: the client ends of
    /// connections to a local server.
    public func dumpTCP(family: UInt8, states: UInt32, destinationPort port: UInt16) throws(DumpError) -> [TCPSocketEntry] {
        try dumpSockets(family: family, states: states, sourcePort: nil, destinationPort: port).map(\.entry)
    }

    /// ``dumpTCP(family:states:sourcePort:withInfo:)`` keeping each socket's kernel identity.
    public func dumpSockets(family: UInt8, states: UInt32, sourcePort: UInt16?,
                            withInfo: Bool = false, destinationPort: UInt16? = nil) throws(DumpError) -> [InetDiag.DiagSocket] {
        sequence += 1
        var sockets: [InetDiag.DiagSocket] = []
        try dump(InetDiag.dumpRequest(family: family, states: states, sourcePort: sourcePort, sequence: sequence,
                                      withInfo: withInfo, destinationPort: destinationPort),
                 into: &sockets, parse: Self.appending(InetDiag.parseSockets))
        return sockets
    }

    /// The namespace's unix sockets in `states` (``UnixDiag/established``), each with its peer.
    public func dumpUnix(states: UInt32) throws(DumpError) -> [UnixDiag.Socket] {
        sequence += 1
        var sockets: [UnixDiag.Socket] = []
        try dump(UnixDiag.dumpRequest(states: states, sequence: sequence), into: &sockets, parse: Self.appending(UnixDiag.parse))
        return sockets
    }

    /// SOCK_DESTROY of one dumped socket (`ss -K`): the kernel resets it (the peer sees RST, the
    /// owner's next call ECONNABORTED). Returns nil, or the errno: ENOENT gone, EOPNOTSUPP
    /// kernel without CONFIG_INET_DIAG_DESTROY, EPERM without CAP_NET_ADMIN in its namespace.
    public func destroy(_ socket: InetDiag.DiagSocket) throws(DumpError) -> Int32? {
        sequence += 1
        try send(InetDiag.destroyRequest(socket, sequence: sequence))
        let reply = try receive()
        do {
            return try InetDiag.ackErrno(reply)
        } catch {
            throw .reply(error)
        }
    }

    /// Sends a dump request and appends each reply datagram's parsed sockets to `out` until
    /// NLMSG_DONE (`parse` returns whether it came).
    func dump<T>(_ request: [UInt8], into out: inout [T],
                 parse: ([UInt8], inout [T]) throws(InetDiag.ReplyError) -> Bool) throws(DumpError) {
        try send(request)
        while true {
            let datagram = try receive()
            let done: Bool
            do { done = try parse(datagram, &out) } catch { throw .reply(error) }
            if done || datagram.isEmpty { return }
        }
    }

    /// A parser of one datagram into a list, as `dump` takes it: appending, and saying `done`.
    static func appending<T>(_ parse: @escaping ([UInt8]) throws(InetDiag.ReplyError) -> (sockets: [T], done: Bool))
        -> ([UInt8], inout [T]) throws(InetDiag.ReplyError) -> Bool {
        { (bytes: [UInt8], out: inout [T]) throws(InetDiag.ReplyError) -> Bool in
            let r = try parse(bytes)
            out += r.sockets
            return r.done
        }
    }

    func send(_ request: [UInt8]) throws(DumpError) {
        do { try transport.send(request) } catch { throw .system(error) }
    }

    func receive() throws(DumpError) -> [UInt8] {
        do { return try transport.receive() } catch { throw .system(error) }
    }
}
