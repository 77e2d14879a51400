#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS
import SyscallInjector
import SystemPackage

/// `close --method ptrace` (and `--raw-close`) runs its whole hold of mysqld's thread in a
/// helper process of its own: myconn's executable again (`/proc/self/exe`), started with
/// ``subcommand``, in a process group of its own, with every signal blocked, and with the
/// lowest OOM score root can give. A SIGKILL of myconn itself, of its process group (`timeout
/// -s KILL`, a shell's job control) or by the OOM killer then cannot fall inside the window in
/// which the thread holds injected registers: the helper finishes the cut, restores the
/// registers and detaches, and its report goes nowhere. Only a SIGKILL aimed at the helper's
/// own pid, inside that window (`injected_us`), can still leave the thread with registers
/// that are not its own (README, "kill and close").
///
/// The helper reports on its standard output, one line each, after the thread is released:
/// `unavailable MESSAGE` (nothing was done), or a `step RESULT MESSAGE` line per target in
/// order and then `end FREEZE_NS INJECTED_NS`.
public enum PtraceHelper {
    public static let subcommand = "__ptrace-cut"

    public enum Mode: String, Sendable {
        /// `dup` (or `dup3` into the previous duplicate), check, `shutdown`; `close` of the duplicate at the end.
        case shutdown
        /// `--raw-close`: a bare `close(fd)` with every thread of mysqld stopped.
        case close
    }

    public struct Target: Sendable, Equatable {
        public var fd: Int32
        public var inode: UInt64
    }

    // MARK: myconn's side

    /// Runs the cut in a helper and reads its report. A helper that ends without one (killed)
    /// fails every target it did not report, saying that mysqld's thread may need a look.
    static func run(pid: Int32, mode: Mode, targets: [SocketRef], proc: ProcReader) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        // No /proc root in argv: anyone may run the helper's subcommand, and a tree of their
        // own would pass its checks (and name the gadget); the helper reads the real /proc.
        guard proc.procRoot == ProcReader().procRoot else {
            throw .ptrace("the ptrace helper acts on the live /proc only, not on \(proc.procRoot)")
        }
        let arguments = ["myconn", subcommand, "\(pid)", mode.rawValue]
            + targets.map { "\($0.fd):\($0.inode)" }
        let (report, status) = try spawn(arguments)
        switch parse(report, count: targets.count) {
        case .unavailable(let message):
            throw .ptrace(message)
        case .steps(var steps, let freeze, let injected):
            for i in steps.indices {
                steps[i].detail.freezeNanoseconds = freeze
                steps[i].detail.injectedNanoseconds = injected
            }
            return steps
        case .cutShort(var steps):
            let why = "the ptrace helper ended without its report (\(describe(status: status))): check that mysqld's thread \(pid) runs"
            while steps.count < targets.count { steps.append(ActionStep(.failed(why), CutDetail())) }
            return steps
        }
    }

    enum Report: Equatable {
        case unavailable(String)
        case steps([ActionStep<CutDetail>], freeze: UInt64, injected: UInt64)
        /// What came before the helper ended without its `end` line.
        case cutShort([ActionStep<CutDetail>])
    }

    /// The helper's report, strictly: anything but the lines above ends it as cut short.
    static func parse(_ text: String, count: Int) -> Report {
        var steps: [ActionStep<CutDetail>] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            switch fields.first {
            case "unavailable"? where steps.isEmpty:
                return .unavailable(line.dropFirst("unavailable ".count).description)
            case "step"? where fields.count == 3 && steps.count < count:
                let message = fields[2]
                switch fields[1] {
                case "done": steps.append(ActionStep(.done, CutDetail()))
                case "refused": steps.append(ActionStep(.refused(message), CutDetail()))
                case "failed": steps.append(ActionStep(.failed(message), CutDetail()))
                default: return .cutShort(steps)
                }
            case "end"? where fields.count == 3 && steps.count == count:
                guard let freeze = UInt64(fields[1]), let injected = UInt64(fields[2]) else { return .cutShort(steps) }
                return .steps(steps, freeze: freeze, injected: injected)
            default:
                return .cutShort(steps)
            }
        }
        return .cutShort(steps)
    }

    static func describe(status: Int32?) -> String {
        guard let status else { return "not started" }
        if status & 0x7f == 0 { return "exit status \((status >> 8) & 0xff)" }
        return "killed by signal \(status & 0x7f)"
    }

    /// Starts the helper and reads its standard output to the end; returns it with the wait status.
    static func spawn(_ arguments: [String]) throws(MethodUnavailable) -> (String, Int32?) {
        do {
            let (output, status) = try HelperProcess.run("/proc/self/exe", arguments)
            return (String(decoding: output, as: UTF8.self), status)
        } catch {
            throw .ptrace("cannot start the ptrace helper (/proc/self/exe): \(error)")
        }
    }

    // MARK: the helper's side

    /// The helper's whole run, from myconn's `main` before anything else: `arguments` are
    /// `[subcommand, pid, mode, fd:inode...]`. Returns its exit status.
    public static func main(_ arguments: [String]) -> Int32 {
        // Every signal came blocked from the spawn; SIGPIPE stays pending if myconn is gone.
        HelperProcess.writeOwn("oom_score_adj", "-1000\n")
        HelperProcess.writeOwn("comm", "myconn-ptrace")
        guard arguments.count >= 4, arguments[0] == subcommand, let pid = Int32(arguments[1]), pid > 0,
              let mode = Mode(rawValue: arguments[2]) else {
            say("unavailable the ptrace helper was started with arguments it does not take")
            return 64
        }
        var targets: [Target] = []
        for a in arguments.dropFirst(3) {
            let parts = a.split(separator: ":")
            guard parts.count == 2, let fd = Int32(parts[0]), fd >= 0, let inode = UInt64(parts[1]) else {
                say("unavailable the ptrace helper was given a target it does not read: \(a)")
                return 64
            }
            targets.append(Target(fd: fd, inode: inode))
        }
        let job = PtraceJob(pid: pid, proc: ProcReader())
        let outcome = Result { () throws(MethodUnavailable) in
            mode == .shutdown ? try job.shutdown(targets) : try job.rawClose(targets)
        }
        switch outcome {
        case .failure(let e):
            say("unavailable \(e.message)")
        case .success(let (steps, freeze, injected)):
            var report = ""
            for s in steps {
                switch s {
                case .done: report += "step done -\n"
                case .refused(let m): report += "step refused \(oneLine(m))\n"
                case .failed(let m): report += "step failed \(oneLine(m))\n"
                default: report += "step failed \(oneLine(s.name))\n"
                }
            }
            report += "end \(freeze) \(injected)"
            say(report)
        }
        return 0
    }

    static func oneLine(_ s: String) -> String {
        String(s.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }

    /// One write of `text` and a newline to standard output; a gone reader (EPIPE) is ignored.
    static func say(_ text: String) {
        let line = Array((text + "\n").utf8)
        var off = 0
        while off < line.count {
            let n = line[off...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
}

/// What the helper does while it holds mysqld's thread: each target re-verified at the
/// moment it is acted on, from outside, through `/proc/<pid>/fd`.
struct PtraceJob {
    var pid: Int32
    var proc: ProcReader

    typealias Outcome = (steps: [ActionResult], freeze: UInt64, injected: UInt64)

    /// A mysqld thread under gdb or strace: ptrace cannot seize it, and the user is told who holds it.
    func alreadyTraced(tid: Int32, tracer: Int32) -> MethodUnavailable {
        let comm = (try? proc.comm(pid: tracer)) ?? "?"
        return .ptrace("mysqld's thread \(tid) is already traced by pid \(tracer) (\(comm)); detach it, or use --method pidfd")
    }

    /// One thread stopped; per target `M = dup(fd)` (then `dup3(fd, M)`), `/proc/<pid>/fd/M`
    /// checked to be the target's inode, `shutdown(M)`; `close(M)` once at the end.
    func shutdown(_ targets: [PtraceHelper.Target]) throws(MethodUnavailable) -> Outcome {
        let thread: InjectedThread
        do {
            thread = try InjectedThread(pid: pid, tid: pid, proc: proc)
        } catch .alreadyTraced(let tid, let tracer) {
            throw alreadyTraced(tid: tid, tracer: tracer)
        } catch {
            throw .ptrace("cannot stop a mysqld thread: \(error)")
        }
        var results: [ActionResult] = []
        var slot: Int32?
        for t in targets {
            results.append(injectShutdown(t, thread: thread, slot: &slot))
            if thread.state == .detached { break }  // the thread went away: nothing more to do in it
        }
        if let slot, thread.state != .detached {
            _ = try? thread.syscall(SyscallNumbers.close, [UInt64(slot)])
        }
        thread.release()
        while results.count < targets.count { results.append(.failed("the stopped thread went away")) }
        return (results, thread.frozenNanoseconds, thread.injectedNanoseconds)
    }

    /// Duplicates the target into `slot`, a descriptor number of mysqld's that only myconn
    /// knows: `M = dup(fd)` the first time, `dup3(fd, M, 0)` after (replacing, atomically, the
    /// previous target's duplicate: one injection fewer per target). Whatever mysqld does with
    /// `fd` meanwhile, M is checked from outside to be the expected socket before it is shut
    /// down; the caller closes M once, at the end.
    func injectShutdown(_ t: PtraceHelper.Target, thread: InjectedThread, slot: inout Int32?) -> ActionResult {
        do {
            let m: Int64
            if let slot {
                m = try thread.syscall(SyscallNumbers.dup3, [UInt64(t.fd), UInt64(slot), 0])
            } else {
                m = try thread.syscall(SyscallNumbers.dup, [UInt64(t.fd)])
            }
            guard m >= 0 else {
                return .refused("duplicating fd \(t.fd) in mysqld failed: \(Errno(rawValue: Int32(-m)))")
            }
            slot = Int32(m)
            guard (try? proc.fdTarget(pid: pid, fd: Int32(m))) == .socket(inode: t.inode) else {
                return .refused("fd \(t.fd) is no longer socket inode \(t.inode)")
            }
            let rc = try thread.syscall(SyscallNumbers.shutdown, [UInt64(m), UInt64(SHUT_RDWR)])
            guard rc == 0 else {
                return .failed("shutdown in mysqld failed: \(Errno(rawValue: Int32(-rc)))")
            }
            return .done
        } catch {
            thread.release()
            return .failed("injection failed: \(error)")
        }
    }

    /// The seed's bare `close(fd)`, injected while every mysqld thread is stopped, so the fd
    /// cannot change between the check and the close. It still frees a number mysqld's thread
    /// believes it owns (docs/facts.md section 2): only on explicit request.
    func rawClose(_ targets: [PtraceHelper.Target]) throws(MethodUnavailable) -> Outcome {
        let frozen: FrozenProcess
        do {
            frozen = try FrozenProcess(pid: pid, proc: proc)
        } catch .alreadyTraced(let tid, let tracer) {
            throw alreadyTraced(tid: tid, tracer: tracer)
        } catch {
            throw .ptrace("cannot stop every mysqld thread: \(error)")
        }
        var results: [ActionResult] = []
        for t in targets {
            guard (try? proc.fdTarget(pid: pid, fd: t.fd)) == .socket(inode: t.inode) else {
                results.append(.refused("fd \(t.fd) is no longer socket inode \(t.inode)"))
                continue
            }
            do {
                let rc = try frozen.threads[0].syscall(SyscallNumbers.close, [UInt64(t.fd)])
                results.append(rc == 0 ? .done : .failed("close in mysqld failed: \(Errno(rawValue: Int32(-rc)))"))
            } catch {
                results.append(.failed("injection failed: \(error)"))
                break
            }
        }
        frozen.release()
        while results.count < targets.count { results.append(.failed("not attempted after an injection failure")) }
        return (results, frozen.frozenNanoseconds, frozen.injectedNanoseconds)
    }
}
