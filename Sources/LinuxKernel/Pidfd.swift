#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SystemPackage

/// A process file descriptor (`pidfd_open(2)`): names one process for its whole life, so a
/// recycled pid can never be mistaken for it.
public final class Pidfd {
    public let fd: Int32

    /// - Throws: `Errno.noSuchProcess` (gone), `.notPermitted`, `.noFunction` (kernel < 5.3).
    public init(pid: Int32) throws(Errno) {
        let r = myconn_pidfd_open(pid)
        guard r >= 0 else { throw Errno(rawValue: errno) }
        fd = r
    }

    deinit { close(fd) }

    /// A duplicate, in this process, of the target's descriptor `target` (`pidfd_getfd(2)`,
    /// Linux >= 5.6; needs ptrace permission over the target), closed when the value goes.
    /// - Throws: `Errno.badFileDescriptor` (no such fd in the target), `.notPermitted`, `.noFunction`.
    public func duplicate(_ target: Int32) throws(Errno) -> OwnedDescriptor {
        let r = myconn_pidfd_getfd(fd, target)
        guard r >= 0 else { throw Errno(rawValue: errno) }
        return OwnedDescriptor(r)
    }
}

/// A descriptor of this process that only its owner uses: closed exactly once, when the owner
/// lets it go, whichever way the code that holds it exits.
public final class OwnedDescriptor {
    public let fd: Int32

    public init(_ fd: Int32) { self.fd = fd }

    deinit { close(fd) }
}

/// The inode of what descriptor `fd` of this process refers to (`fstat(2)`).
public func inodeOf(fd: Int32) throws(Errno) -> UInt64 {
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw Errno(rawValue: errno) }
    return UInt64(st.st_ino)
}
