#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SystemPackage

/// The liveness options of a TCP socket (`tcp(7)`, `socket(7)`): what `myconn probe` turns up
/// and then puts back. Read and written through a descriptor of this process; on a
/// `pidfd_getfd` duplicate they are the options of mysqld's own socket (one socket, two fds).
public struct KeepaliveOptions: Equatable, Sendable {
    public var keepalive: Bool
    /// Seconds idle before the first probe (`TCP_KEEPIDLE`; the sysctl's value while unset).
    public var idleSeconds: Int32
    /// Seconds between probes (`TCP_KEEPINTVL`).
    public var intervalSeconds: Int32
    /// Unanswered probes before the kernel drops the connection (`TCP_KEEPCNT`).
    public var count: Int32
    /// Milliseconds transmitted data may stay unacknowledged before the kernel drops the
    /// connection (`TCP_USER_TIMEOUT`); 0: the system's retransmission limits.
    public var userTimeoutMilliseconds: Int32

    public init(keepalive: Bool, idleSeconds: Int32, intervalSeconds: Int32, count: Int32, userTimeoutMilliseconds: Int32) {
        self.keepalive = keepalive
        self.idleSeconds = idleSeconds
        self.intervalSeconds = intervalSeconds
        self.count = count
        self.userTimeoutMilliseconds = userTimeoutMilliseconds
    }

    static let tcpUserTimeout: Int32 = 18  // linux/tcp.h TCP_USER_TIMEOUT

    public static func read(fd: Int32) throws(Errno) -> KeepaliveOptions {
        KeepaliveOptions(keepalive: try get(fd, SOL_SOCKET, SO_KEEPALIVE) != 0,
                         idleSeconds: try get(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE),
                         intervalSeconds: try get(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL),
                         count: try get(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT),
                         userTimeoutMilliseconds: try get(fd, Int32(IPPROTO_TCP), tcpUserTimeout))
    }

    /// Writes every option. Interval, count and user timeout go first, SO_KEEPALIVE next, idle
    /// last: setting TCP_KEEPIDLE on a socket with keepalive on re-arms its timer at once.
    public func write(fd: Int32) throws(Errno) {
        try Self.set(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, intervalSeconds)
        try Self.set(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, count)
        try Self.set(fd, Int32(IPPROTO_TCP), Self.tcpUserTimeout, userTimeoutMilliseconds)
        try Self.set(fd, SOL_SOCKET, SO_KEEPALIVE, keepalive ? 1 : 0)
        try Self.set(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, idleSeconds)
    }

    static func get(_ fd: Int32, _ level: Int32, _ name: Int32) throws(Errno) -> Int32 {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, level, name, &v, &len) == 0 else { throw Errno(rawValue: errno) }
        return v
    }

    static func set(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(Errno) {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw Errno(rawValue: errno)
        }
    }
}

/// The fields of `struct tcp_info` (`getsockopt(TCP_INFO)`, `linux/tcp.h`) a liveness probe reads.
/// SO_ERROR is never read: it would take the pending error away from mysqld.
public struct TCPLiveInfo: Equatable, Sendable {
    /// `tcpi_state`: 1 ESTABLISHED, 7 CLOSE (the kernel dropped it), 8 CLOSE_WAIT, ...
    public var state: UInt8
    public var retransmits: UInt8
    public var probes: UInt8
    public var unacked: UInt32
    /// Milliseconds since an ACK last arrived (`tcpi_last_ack_recv`).
    public var lastAckReceivedMilliseconds: UInt32

    public static let established: UInt8 = 1
    public static let closed: UInt8 = 7
    public static let closeWait: UInt8 = 8

    public init(state: UInt8, retransmits: UInt8, probes: UInt8, unacked: UInt32, lastAckReceivedMilliseconds: UInt32) {
        self.state = state
        self.retransmits = retransmits
        self.probes = probes
        self.unacked = unacked
        self.lastAckReceivedMilliseconds = lastAckReceivedMilliseconds
    }

    /// Parses the first bytes of `struct tcp_info` (offsets of `linux/tcp.h`, host order).
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 60 else { return nil }
        func u32(_ o: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        self.init(state: bytes[0], retransmits: bytes[2], probes: bytes[3], unacked: u32(24),
                  lastAckReceivedMilliseconds: u32(56))
    }

    /// Bytes queued and not yet sent (`SIOCOUTQNSD`, `tcp(7)`): with nothing unacknowledged,
    /// data waiting means the peer's receive window is closed.
    public static func unsentBytes(fd: Int32) throws(Errno) -> Int32 {
        var n: Int32 = 0
        guard ioctl(fd, 0x894B /* SIOCOUTQNSD */, &n) == 0 else { throw Errno(rawValue: errno) }
        return n
    }

    public static func read(fd: Int32) throws(Errno) -> TCPLiveInfo {
        var buf = [UInt8](repeating: 0, count: 256)
        var len = socklen_t(buf.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &buf, &len) == 0 else { throw Errno(rawValue: errno) }
        guard let info = buf.withUnsafeBytes({ TCPLiveInfo(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<Int(len)])) }) else {
            throw Errno.invalidArgument
        }
        return info
    }
}
