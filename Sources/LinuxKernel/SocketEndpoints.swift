#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SocketModel
import SystemPackage

/// The two ends of a connected socket in this process, from `getsockname(2)`/`getpeername(2)`.
public enum SocketEndpoints: Sendable, Equatable {
    case inet(local: SocketAddress, peer: SocketAddress)
    case unix(path: String)

    /// - Throws: `Errno` from the kernel (EBADF is a bug: the caller owns `fd`).
    public init(fd: Int32) throws(Errno) {
        var local = sockaddr_storage()
        var peer = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc1 = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc1 == 0 else { throw Errno(rawValue: errno) }
        if Int32(local.ss_family) == AF_UNIX {
            let path = withUnsafeBytes(of: &local) { raw -> String in
                let sun = raw.load(as: sockaddr_un.self)
                return withUnsafeBytes(of: sun.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            }
            self = .unix(path: path)
            return
        }
        len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc2 = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        guard rc2 == 0 else { throw Errno(rawValue: errno) }
        guard let l = Self.decode(&local), let p = Self.decode(&peer) else { throw Errno.addressFamilyNotSupported }
        self = .inet(local: l, peer: p)
    }

    static func decode(_ ss: inout sockaddr_storage) -> SocketAddress? {
        let family = Int32(ss.ss_family)
        return withUnsafeBytes(of: &ss) { raw -> SocketAddress? in
            switch family {
            case AF_INET:
                let sin = raw.load(as: sockaddr_in.self)
                let b = withUnsafeBytes(of: sin.sin_addr) { Array($0) }
                return SocketAddress(ip: .v4(b[0], b[1], b[2], b[3]), port: UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.load(as: sockaddr_in6.self)
                let b = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
                return SocketAddress(ip: .v6(IPv6Bytes(b)), port: UInt16(bigEndian: sin6.sin6_port))
            default:
                return nil
            }
        }
    }
}

/// The peer process of a connected unix socket, from `SO_PEERCRED` (`unix(7)`): the credentials
/// the peer had when it called `connect(2)` or `listen(2)`, its pid translated into our pid namespace.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(fd: Int32) throws(Errno) {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard myconn_peer_credentials(fd, &pid, &uid, &gid) == 0 else { throw Errno(rawValue: errno) }
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}
