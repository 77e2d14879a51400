#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SystemPackage

/// Thin typed wrappers over `ptrace(2)` for one thread; no policy. Every call must come from
/// the OS thread that seized the tracee (the kernel binds tracing to that thread).
public enum Ptrace {
    // linux/ptrace.h
    static let seize: Int32 = 0x4206, interrupt: Int32 = 0x4207, detach: Int32 = 17, cont: Int32 = 7
    static let syscallRun: Int32 = 24   // PTRACE_SYSCALL
    static let optionTraceSysGood = 1   // PTRACE_O_TRACESYSGOOD
    static let getSigmask: Int32 = 0x420a, setSigmask: Int32 = 0x420b
    public static let eventStop: Int32 = 128   // PTRACE_EVENT_STOP

    /// Attaches without stopping or signalling (`PTRACE_SEIZE`). Its one option is
    /// TRACESYSGOOD, so that syscall stops are told from a real SIGTRAP; never EXITKILL.
    /// - Throws: `Errno.notPermitted` when already traced (gdb, strace) or not allowed.
    public static func seize(_ tid: Int32) throws(Errno) {
        guard myconn_ptrace(seize, tid, nil, UnsafeMutableRawPointer(bitPattern: optionTraceSysGood)) == 0 else {
            throw Errno(rawValue: errno)
        }
    }

    /// Asks a seized thread to stop (`PTRACE_INTERRUPT`); wait for it with ``waitStop(_:)``.
    public static func interrupt(_ tid: Int32) throws(Errno) {
        guard myconn_ptrace(interrupt, tid, nil, nil) == 0 else { throw Errno(rawValue: errno) }
    }

    public enum Stop: Equatable, Sendable {
        /// `PTRACE_EVENT_STOP` (from our interrupt).
        case eventStop
        /// A signal-delivery stop: the signal must be delivered on resume.
        case signal(Int32)
        /// A syscall-entry or syscall-exit stop (`PTRACE_SYSCALL`; SIGTRAP | 0x80).
        case syscall
        /// A plain SIGTRAP: none is expected while a thread is held.
        case trap
        case exited
    }

    /// `waitpid(tid, __WALL)`, EINTR retried.
    public static func waitStop(_ tid: Int32) throws(Errno) -> Stop {
        var status: Int32 = 0
        while true {
            let r = waitpid(tid, &status, Int32(bitPattern: 0x40000000) /* __WALL */)
            if r == tid { break }
            if r < 0 && errno == EINTR { continue }
            throw Errno(rawValue: errno)
        }
        if myconn_wifexited(status) != 0 || myconn_wifsignaled(status) != 0 { return .exited }
        guard myconn_wifstopped(status) != 0 else { return .exited }
        let sig = myconn_wstopsig(status)
        if myconn_wptrace_event(status) == eventStop { return .eventStop }
        if sig == SIGTRAP | 0x80 { return .syscall }
        if sig == SIGTRAP { return .trap }
        return .signal(sig)
    }

    public static func getRegs(_ tid: Int32) throws(Errno) -> myconn_regs {
        var regs = myconn_regs()
        guard myconn_get_regs(tid, &regs) == 0 else { throw Errno(rawValue: errno) }
        return regs
    }

    public static func setRegs(_ tid: Int32, _ regs: myconn_regs) throws(Errno) {
        var r = regs
        guard myconn_set_regs(tid, &r) == 0 else { throw Errno(rawValue: errno) }
    }

    /// The stopped thread's blocked-signal mask (`PTRACE_GETSIGMASK`, Linux >= 3.11).
    public static func signalMask(_ tid: Int32) throws(Errno) -> UInt64 {
        var mask: UInt64 = 0
        guard myconn_ptrace(getSigmask, tid, UnsafeMutableRawPointer(bitPattern: 8), &mask) == 0 else {
            throw Errno(rawValue: errno)
        }
        return mask
    }

    /// Sets the stopped thread's blocked-signal mask (`PTRACE_SETSIGMASK`): signals stay pending,
    /// undelivered and unlost, until it is restored.
    public static func setSignalMask(_ tid: Int32, _ mask: UInt64) throws(Errno) {
        var m = mask
        guard myconn_ptrace(setSigmask, tid, UnsafeMutableRawPointer(bitPattern: 8), &m) == 0 else {
            throw Errno(rawValue: errno)
        }
    }

    /// `PTRACE_SYSCALL`: resumes to the next syscall-entry or syscall-exit stop. Not
    /// `PTRACE_SINGLESTEP`: a tracer that dies (SIGKILL) after a single step leaves the trap
    /// flag set, exit_ptrace does not clear it, and the thread dies of SIGTRAP at its next
    /// instruction (measured: a `sleep` seized, stepped once and left died so; seized, run to a
    /// syscall stop and left, it slept on). The syscall-trace flag is cleared on unlink.
    public static func runToSyscallStop(_ tid: Int32) throws(Errno) {
        guard myconn_ptrace(syscallRun, tid, nil, nil) == 0 else { throw Errno(rawValue: errno) }
    }

    public enum SyscallStop: Equatable, Sendable {
        case entry(number: Int64)
        case exit(result: Int64)
        case none
    }

    /// `PTRACE_GET_SYSCALL_INFO` (Linux >= 5.3): which syscall stop the thread is in.
    public static func syscallInfo(_ tid: Int32) throws(Errno) -> SyscallStop {
        var value: Int64 = 0
        switch myconn_syscall_info(tid, &value) {
        case 1: return .entry(number: value)
        case 2: return .exit(result: value)
        case -1: throw Errno(rawValue: errno)
        default: return .none
        }
    }

    /// Resumes delivering `signal` (for a signal-delivery stop met instead of our event stop).
    public static func resume(_ tid: Int32, signal: Int32) throws(Errno) {
        guard myconn_ptrace(cont, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal))) == 0 else {
            throw Errno(rawValue: errno)
        }
    }

    /// `PTRACE_DETACH`: the thread runs on; `signal` (0: none) is delivered to it, for a signal
    /// that arrived while it was held.
    public static func detach(_ tid: Int32, signal: Int32 = 0) throws(Errno) {
        guard myconn_ptrace(detach, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal))) == 0 else {
            throw Errno(rawValue: errno)
        }
    }
}
