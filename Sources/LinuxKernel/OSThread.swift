#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SystemPackage

/// Work on an OS thread of its own (`pthread_create(3)`), its result handed back by ``join()``.
/// The one way this tool starts a thread: for work beside the caller's (`list` reads the fd
/// table on two threads) and for work inside another namespace (``NetworkNamespace``), which
/// must not touch any thread that does anything else.
///
/// `body` owns what it touches until ``join()`` returns: its result crosses threads unchecked,
/// ordered by `pthread_join`.
public final class OSThread<Value>: @unchecked Sendable {
    private var thread = pthread_t()
    private let slot: Slot<Value>
    private var joined = false

    /// Starts `body` on a new thread.
    /// - Throws: `Errno` (EAGAIN: no thread can be made now); `body` has not run then.
    public init(_ body: @escaping @Sendable () -> Value) throws(Errno) {
        slot = Slot(body)
        let retained = Unmanaged<ThreadBody>.passRetained(slot)
        let rc = pthread_create(&thread, nil, { arg in
            Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, retained.toOpaque())
        guard rc == 0 else {
            retained.release()
            joined = true  // no thread to join: deinit, which runs for a throwing init, must not
            throw Errno(rawValue: rc)
        }
    }

    /// Lowers the calling thread's scheduling priority by `n` nice levels (`setpriority(2)` on
    /// its thread id: on Linux, nice is per thread). Best effort: a refusal changes nothing.
    public static func lowerPriority(by n: Int32) {
        let tid = id_t(myconn_gettid())
        errno = 0
        let now = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid)
        guard errno == 0 else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, min(19, now + n))
    }

    /// Waits for the thread to end and returns what `body` returned. Call once.
    public func join() -> Value {
        precondition(!joined, "an OSThread is joined once")
        pthread_join(thread, nil)
        joined = true
        return slot.result!
    }

    deinit { if !joined { pthread_join(thread, nil) } }
}

/// What the new thread runs, seen through a non-generic class: a C start routine cannot name `Value`.
class ThreadBody: @unchecked Sendable {
    func run() {}
}

// Written by the new thread, read after pthread_join.
final class Slot<Value>: ThreadBody, @unchecked Sendable {
    let work: @Sendable () -> Value
    var result: Value?
    init(_ work: @escaping @Sendable () -> Value) { self.work = work }
    override func run() { result = work() }
}
