#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SockDiag
import SystemPackage

/// A NETLINK_SOCK_DIAG socket (`sock_diag(7)`), opened in a given network namespace: the
/// kernel's end of a ``SockDiagClient``.
///
/// A netlink socket belongs to the namespace it was created in; to reach another process's
/// namespace a short-lived thread `setns(2)`s into it, creates the socket and ends, so no
/// thread of ours that does anything else ever changes namespace.
public final class SockDiagSocket: SockDiagTransport {
    private let fd: Int32
    /// One receive buffer for the socket's life: a dump is tens of datagrams, and zeroing a new
    /// 64 KiB for each cost more than parsing it.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)

    /// - Parameter namespacePath: e.g. `/proc/<pid>/ns/net`; nil for our own namespace.
    /// - Throws: `Errno` (EPERM/EACCES without CAP_SYS_ADMIN for another namespace).
    public init(namespacePath: String? = nil) throws(Errno) {
        guard let namespacePath else {
            fd = try Self.openSocket()
            return
        }
        let opened = try NetworkNamespace.run(in: namespacePath) { () -> Result<Int32, Errno> in
            do throws(Errno) { return .success(try SockDiagSocket.openSocket()) } catch { return .failure(error) }
        }
        fd = try opened.get()
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    static func openSocket() throws(Errno) -> Int32 {
        let s = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 4 /* NETLINK_SOCK_DIAG */)
        guard s >= 0 else { throw Errno(rawValue: errno) }
        return s
    }

    public func send(_ request: [UInt8]) throws(Errno) {
        // An unconnected netlink socket sends to the kernel (port id 0) without an address.
        while true {
            let sent = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            if sent < 0 && errno == EINTR { continue }
            guard sent == request.count else { throw Errno(rawValue: errno) }
            return
        }
    }

    public func receive() throws(Errno) -> [UInt8] {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            return Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }
}
