#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SocketModel
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

extension TCPHealth {
    /// Bytes queued and not yet sent (`SIOCOUTQNSD`, `tcp(7)`): with nothing unacknowledged,
    /// data waiting means the peer's receive window is closed.
    public static func unsentBytes(fd: Int32) throws(Errno) -> Int32 {
        var n: Int32 = 0
        guard ioctl(fd, 0x894B /* SIOCOUTQNSD */, &n) == 0 else { throw Errno(rawValue: errno) }
        return n
    }

    /// `struct tcp_info` of a socket of this process (`getsockopt(TCP_INFO)`, `tcp(7)`); on a
    /// `pidfd_getfd` duplicate, mysqld's socket's. SO_ERROR is never read: it would take the
    /// pending error away from mysqld.
    /// - Throws: `Errno` from the kernel; `.invalidArgument` when the struct is too short.
    public static func read(fd: Int32) throws(Errno) -> TCPHealth {
        var buf = [UInt8](repeating: 0, count: 256)
        var len = socklen_t(buf.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &buf, &len) == 0 else { throw Errno(rawValue: errno) }
        guard let info = buf.withUnsafeBytes({ TCPHealth(tcpInfo: UnsafeRawBufferPointer(rebasing: $0[0..<Int(len)])) }) else {
            throw Errno.invalidArgument
        }
        return info
    }
}

/// The socket's cookie (`getsockopt(SO_COOKIE)`): the kernel's identity of the socket, never
/// reused while the system runs; sock_diag reports the same number.
public func socketCookie(fd: Int32) throws(Errno) -> UInt64 {
    var v: UInt64 = 0
    var len = socklen_t(MemoryLayout<UInt64>.size)
    guard getsockopt(fd, SOL_SOCKET, 57 /* SO_COOKIE */, &v, &len) == 0 else { throw Errno(rawValue: errno) }
    return v
}
