import ProcFS
import SyscallInjector

/// Finds the descriptor a session's own thread is blocked on, from
/// `/proc/<pid>/task/<tid>/syscall` (and, for `poll`, the `pollfd` in `/proc/<pid>/mem`).
///
/// Proof only when the thread is blocked in one of `read`, `readv`, `recvfrom`, `recvmsg`
/// on one descriptor, or `poll`/`ppoll` on exactly one, and its syscall line is the same
/// before and after the descriptor is read. Nothing in mysqld is stopped.
public struct ThreadSocketProbe: Sendable {
    public let proc: ProcReader

    public init(proc: ProcReader) {
        self.proc = proc
    }

    public enum Outcome: Sendable, Equatable {
        case fd(Int32)
        case notProven(String)
    }

    public func probe(pid: Int32, tid: Int32) -> Outcome {
        let first: ThreadSyscall
        do {
            first = try proc.threadSyscall(pid: pid, tid: tid)
        } catch {
            return .notProven("thread \(tid) could not be read (\(error))")
        }
        guard case .blocked(let nr, let args, _, _) = first else {
            return .notProven("its thread \(tid) is running, not waiting on its socket")
        }
        let fd: Int32
        switch nr {
        case SyscallNumbers.read, SyscallNumbers.readv, SyscallNumbers.recvfrom, SyscallNumbers.recvmsg:
            fd = Int32(truncatingIfNeeded: args[0])
        case SyscallNumbers.poll, SyscallNumbers.ppoll:
            guard args[1] == 1 else {
                return .notProven("its thread \(tid) polls \(args[1]) descriptors, not one")
            }
            let bytes: [UInt8]
            do {
                bytes = try proc.readMemory(pid: pid, address: args[0], count: 4)
            } catch {
                return .notProven("the poll set of thread \(tid) could not be read (\(error))")
            }
            fd = bytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        case SyscallNumbers.restartSyscall:
            // The wait a stopped thread resumes (poll with a timeout, here) no longer shows its
            // arguments: not proven until the session's next statement, safely.
            return .notProven("its thread \(tid) is in restart_syscall: mysqld was stopped and continued (SIGSTOP/SIGCONT, a debugger) while it waited, and the resumed wait does not show its descriptor; proven again after the session's next statement")
        default:
            return .notProven("its thread \(tid) is in \(SyscallNumbers.describe(nr)), not waiting on its socket")
        }
        guard let second = try? proc.threadSyscall(pid: pid, tid: tid), second == first else {
            return .notProven("its thread \(tid) moved on while being read")
        }
        return .fd(fd)
    }
}
