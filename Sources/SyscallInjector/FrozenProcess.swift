#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ProcFS

/// Every thread of a process stopped at once: seize each tid of `/proc/<pid>/task`, and rescan
/// until a pass finds none new (gdb and CRIU loop the same way), so no thread can run while
/// something is checked and then changed. Released in reverse order, also on failure.
public final class FrozenProcess {
    public let pid: Int32
    /// The threads, the main thread (tid = pid) first: it is the one injected into.
    public private(set) var threads: [InjectedThread] = []
    private var stoppedAt = timespec()
    public private(set) var frozenNanoseconds: UInt64 = 0
    /// ``InjectedThread/injectedNanoseconds`` of the threads, summed (only the main thread is
    /// injected into), once released.
    public private(set) var injectedNanoseconds: UInt64 = 0

    public init(pid: Int32, proc: ProcReader = ProcReader()) throws(InjectorError) {
        self.pid = pid
        let gadget = try InjectedThread.findGadget(pid: pid, proc: proc)
        clock_gettime(CLOCK_MONOTONIC, &stoppedAt)
        do throws(InjectorError) {
            threads.append(try InjectedThread(pid: pid, tid: pid, proc: proc, gadget: gadget))
            var seen: Set<Int32> = [pid]
            for _ in 0..<100 {
                let tids = Self.tids(pid: pid, proc: proc).filter { !seen.contains($0) }
                if tids.isEmpty { return }
                for tid in tids {
                    seen.insert(tid)
                    do throws(InjectorError) {
                        threads.append(try InjectedThread(pid: pid, tid: tid, proc: proc, gadget: gadget))
                    } catch .threadGone {
                        continue  // exited between the listing and the seize
                    }
                }
            }
            throw InjectorError.unexpectedStop("threads kept appearing; not every thread could be stopped")
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    public func release() {
        for t in threads.reversed() { t.release() }
        injectedNanoseconds += threads.reduce(0) { $0 + $1.injectedNanoseconds }
        if !threads.isEmpty {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            frozenNanoseconds = UInt64((now.tv_sec - stoppedAt.tv_sec) * 1_000_000_000 + (now.tv_nsec - stoppedAt.tv_nsec))
        }
        threads = []
    }

    static func tids(pid: Int32, proc: ProcReader) -> [Int32] {
        let taskRoot = ProcReader(procRoot: proc.path(pid, "task"))
        return taskRoot.pids()
    }
}
