#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SocketModel
import SockDiag
import SystemPackage

/// A NETLINK_SOCK_DIAG socket, opened in a given network namespace (`sock_diag(7)`).
///
/// A netlink socket belongs to the namespace it was created in; to reach another process's
/// namespace a short-lived thread `setns(2)`s into it, creates the socket and ends, so no
/// thread of ours that does anything else ever changes namespace.
public final class NetlinkSockDiag {
    private let fd: Int32
    private var sequence: UInt32 = 1
    /// Every datagram received, when recording (the hidden `--debug-dump-sock-diag`).
    public var recording: [[UInt8]]?

    /// - Parameter namespacePath: e.g. `/proc/<pid>/ns/net`; nil for our own namespace.
    /// - Throws: `Errno` (EPERM/EACCES without CAP_SYS_ADMIN for another namespace).
    public init(namespacePath: String? = nil) throws(Errno) {
        guard let namespacePath else {
            fd = try Self.openSocket()
            return
        }
        let opened = try NetworkNamespace.run(in: namespacePath) { () -> Result<Int32, Errno> in
            do throws(Errno) { return .success(try NetlinkSockDiag.openSocket()) } catch { return .failure(error) }
        }
        fd = try opened.get()
    }

    deinit { close(fd) }

    static func openSocket() throws(Errno) -> Int32 {
        let s = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 4 /* NETLINK_SOCK_DIAG */)
        guard s >= 0 else { throw Errno(rawValue: errno) }
        return s
    }

    public enum DumpError: Error, Equatable, Sendable {
        case system(Errno)
        case reply(InetDiag.ReplyError)
    }

    /// All TCP sockets of `family` in `states`, with local port `sourcePort` when given.
    public func dumpTCP(family: UInt8, states: UInt32, sourcePort: UInt16?, withInfo: Bool = false) throws(DumpError) -> [TCPSocketEntry] {
        try dumpSockets(family: family, states: states, sourcePort: sourcePort, withInfo: withInfo).map(\.entry)
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

    func send(_ request: [UInt8]) throws(DumpError) {
        // An unconnected netlink socket sends to the kernel (port id 0) without an address.
        let sent = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == request.count else { throw .system(Errno(rawValue: errno)) }
    }

    func receive() throws(DumpError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(Errno(rawValue: errno))
            }
            let datagram = Array(buffer[0..<n])
            recording?.append(datagram)
            return datagram
        }
    }

    /// The TCP sockets of `family` in `states` whose remote port is `port`: the client ends of
    /// connections to a local server.
    public func dumpTCP(family: UInt8, states: UInt32, destinationPort port: UInt16) throws(DumpError) -> [TCPSocketEntry] {
        try dumpSockets(family: family, states: states, sourcePort: nil, destinationPort: port).map(\.entry)
    }

    /// The namespace's unix sockets in `states` (``UnixDiag/established``), each with its peer.
    public func dumpUnix(states: UInt32) throws(DumpError) -> [UnixDiag.Socket] {
        sequence += 1
        return try dump(UnixDiag.dumpRequest(states: states, sequence: sequence), parse: UnixDiag.parse)
    }

    /// ``dumpTCP(family:states:sourcePort:)`` keeping each socket's kernel identity.
    public func dumpSockets(family: UInt8, states: UInt32, sourcePort: UInt16?,
                            withInfo: Bool = false, destinationPort: UInt16? = nil) throws(DumpError) -> [InetDiag.DiagSocket] {
        sequence += 1
        return try dump(InetDiag.dumpRequest(family: family, states: states, sourcePort: sourcePort, sequence: sequence,
                                             withInfo: withInfo, destinationPort: destinationPort),
                        parse: InetDiag.parseSockets)
    }

    /// Sends a dump request and collects the parsed replies until NLMSG_DONE.
    func dump<T>(_ request: [UInt8],
                 parse: ([UInt8]) throws(InetDiag.ReplyError) -> (sockets: [T], done: Bool)) throws(DumpError) -> [T] {
        try send(request)
        var sockets: [T] = []
        while true {
            let datagram = try receive()
            let parsed: (sockets: [T], done: Bool)
            do {
                parsed = try parse(datagram)
            } catch {
                throw .reply(error)
            }
            sockets += parsed.sockets
            if parsed.done || datagram.isEmpty { return sockets }
        }
    }
}
