#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SystemPackage

/// A connected `AF_UNIX` stream socket (a container engine's API socket): write a request,
/// read the reply to its end. Every read and write waits at most `timeoutSeconds`.
public final class UnixStreamSocket {
    private let fd: Int32

    /// - Throws: `Errno`: ENOENT (no such socket), EACCES, ECONNREFUSED, ENAMETOOLONG (the path
    ///   does not fit `sun_path`).
    public init(path: String, timeoutSeconds: Int = 5) throws(Errno) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw Errno.fileNameTooLong }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw Errno(rawValue: errno) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(s)
            throw Errno(rawValue: e)
        }
        fd = s
    }

    deinit { close(fd) }

    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            sent += n
        }
    }

    /// Reads until the peer closes, at most `limit` bytes (more: EMSGSIZE).
    public func readToEnd(limit: Int = 8 << 20) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)  // EAGAIN: the timeout passed
            }
            if n == 0 { return out }
            guard out.count + n <= limit else { throw Errno.messageTooLong }
            out += chunk[0..<n]
        }
    }
}
