#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SystemPackage

/// Work done inside another network namespace (`setns(2)`, `network_namespaces(7)`): on a
/// thread of its own that joins the namespace, runs, and ends, so this process's other threads
/// never leave theirs. A socket created there stays in that namespace for its whole life, and
/// can be used from any thread afterwards.
public enum NetworkNamespace {
    /// Runs `body` on a new thread that has joined the network namespace at `path` (e.g.
    /// `/proc/<pid>/ns/net`) and returns its result.
    /// - Throws: `Errno` when the namespace cannot be opened or joined (EPERM without
    ///   CAP_SYS_ADMIN), or no thread can be made; `body` has not run then.
    public static func run<T>(in path: String, _ body: @escaping @Sendable () -> T) throws(Errno) -> T {
        let slot = Slot<T>(path: path, body: body)
        var thread = pthread_t()
        let retained = Unmanaged<SlotBase>.passRetained(slot)
        let rc = pthread_create(&thread, nil, { arg in
            let slot = Unmanaged<SlotBase>.fromOpaque(arg!).takeRetainedValue()
            slot.enterAndRun()
            return nil
        }, retained.toOpaque())
        guard rc == 0 else {
            retained.release()
            throw Errno(rawValue: rc)
        }
        pthread_join(thread, nil)
        guard let result = slot.result else { throw Errno(rawValue: slot.errno) }
        return result
    }

    class SlotBase: @unchecked Sendable {
        let path: String
        var errno: Int32 = 0
        init(path: String) { self.path = path }
        func body() {}

        func enterAndRun() {
            let ns = open(path, O_RDONLY | O_CLOEXEC)
            if ns < 0 { errno = Glibc.errno; return }
            defer { close(ns) }
            if myconn_setns_net(ns) != 0 { errno = Glibc.errno; return }
            body()
        }
    }

    // Written by the namespace thread, read after pthread_join.
    final class Slot<T>: SlotBase, @unchecked Sendable {
        let work: @Sendable () -> T
        var result: T?
        init(path: String, body: @escaping @Sendable () -> T) {
            work = body
            super.init(path: path)
        }
        override func body() { result = work() }
    }
}
