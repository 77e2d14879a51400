#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SystemPackage

/// Work done inside another network namespace (`setns(2)`, `network_namespaces(7)`): on an
/// ``OSThread`` of its own that joins the namespace, runs, and ends, so this process's other
/// threads never leave theirs. A socket created there stays in that namespace for its whole
/// life, and can be used from any thread afterwards.
public enum NetworkNamespace {
    /// Runs `body` on a new thread that has joined the network namespace at `path` (e.g.
    /// `/proc/<pid>/ns/net`) and returns its result.
    /// - Throws: `Errno` when the namespace cannot be opened or joined (EPERM without
    ///   CAP_SYS_ADMIN), or no thread can be made; `body` has not run then.
    public static func run<T>(in path: String, _ body: @escaping @Sendable () -> T) throws(Errno) -> T {
        let thread = try OSThread { () -> Result<T, Errno> in
            do throws(Errno) {
                try enter(path)
            } catch {
                return .failure(error)
            }
            return .success(body())
        }
        return try thread.join().get()
    }

    /// Moves the calling thread into the network namespace at `path`.
    static func enter(_ path: String) throws(Errno) {
        let ns = open(path, O_RDONLY | O_CLOEXEC)
        guard ns >= 0 else { throw Errno(rawValue: errno) }
        defer { close(ns) }
        guard myconn_setns_net(ns) == 0 else { throw Errno(rawValue: errno) }
    }
}

/// The network interfaces of the calling thread's namespace (`if_nameindex(3)`): index and name.
public func networkInterfaces() -> [(index: UInt32, name: String)] {
    guard let list = if_nameindex() else { return [] }
    defer { if_freenameindex(list) }
    var out: [(UInt32, String)] = []
    var p = list
    while p.pointee.if_index != 0, let name = p.pointee.if_name {
        out.append((p.pointee.if_index, String(cString: name)))
        p += 1
    }
    return out
}
