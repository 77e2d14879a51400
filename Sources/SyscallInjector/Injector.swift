#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import LinuxKernel
import ProcFS
import SystemPackage

/// Why an injection did not happen, or went wrong.
public enum InjectorError: Error, Equatable, Sendable {
    /// Another tracer (gdb, strace) holds the thread: ptrace allows one.
    case alreadyTraced(tid: Int32, tracer: Int32)
    case notPermitted(tid: Int32)
    case threadGone(tid: Int32)
    /// No `syscall` instruction found in the target's vDSO.
    case noGadget(pid: Int32)
    /// The kernel refused a ptrace step; `step` names it. The thread has been restored and released.
    case ptrace(step: String, errno: Errno)
    case unexpectedStop(String)
}

/// Injects system calls into one stopped thread of a process (`ptrace(2)`), as an explicit
/// state machine: attached -> stopped -> registers saved -> (injected -> entry -> exit stop)* ->
/// restored -> detached. ``release()`` runs the restore path from whatever state was reached
/// and is called on every exit; SIGINT/SIGTERM/SIGHUP/SIGQUIT are blocked in between, so the
/// tool cannot be interrupted while the thread holds injected registers. No code in the target
/// is patched: the `syscall` instruction used is one already in its vDSO.
public final class InjectedThread {
    public enum State: Equatable, Sendable { case attached, stopped, saved, injected, restored, detached }

    public let pid: Int32
    public let tid: Int32
    public private(set) var state: State
    private var saved = myconn_regs()
    private let gadget: UInt64
    /// INT/TERM/HUP/QUIT held from seize to detach.
    private var signals: DeferredSignals?
    private var stoppedAt = timespec()
    /// A signal that arrived for the thread while it was held: delivered when it is released.
    private var pendingSignal: Int32 = 0
    /// The thread's own signal mask, replaced by "all blocked" while it is held.
    private var savedSignalMask: UInt64?
    /// How long the thread was stopped, once released.
    public private(set) var frozenNanoseconds: UInt64 = 0
    private var injectedAt = timespec()
    /// Stopped at an injected call's syscall-entry stop: registers written there would be run
    /// as a syscall (the kernel reads `orig_rax` after the stop), so the release first lets the
    /// call be skipped to its exit stop.
    private var atEntryStop = false
    /// How long the thread held registers that are not its own: from writing the first
    /// injection's registers to writing its own back at release (the window in which a tracer
    /// killed by SIGKILL, which cannot be blocked, would leave it resuming with them). Its own
    /// are not written back between two injections: tried, that is one more SETREGSET per
    /// syscall (one run of bench/close.sh: the 100-fd freeze 7,767 us against 6,721) for a
    /// window as long (6,748 us against 6,697): the injected syscalls' own steps are nearly all
    /// of it. 0 when nothing was injected.
    public private(set) var injectedNanoseconds: UInt64 = 0

    /// Seizes and stops `tid`, saves its registers. `gadget`: a known `syscall` address, else found.
    public init(pid: Int32, tid: Int32, proc: ProcReader = ProcReader(), gadget: UInt64? = nil) throws(InjectorError) {
        self.pid = pid
        self.tid = tid
        if let gadget { self.gadget = gadget } else { self.gadget = try Self.findGadget(pid: pid, proc: proc) }
        signals = DeferredSignals()
        state = .detached
        do {
            try Ptrace.seize(tid)
        } catch {
            signals?.release()
            throw Self.classifySeize(error, pid: pid, tid: tid, proc: proc)
        }
        state = .attached
        do {
            try stop()
            state = .stopped
            saved = try Self.step("GETREGSET") { () throws(Errno) in try Ptrace.getRegs(tid) }
            // Every signal blocked while held: one arriving mid-injection stays pending (queued
            // real-time signals included) instead of being dequeued into a ptrace stop.
            let mask = try Self.step("GETSIGMASK") { () throws(Errno) in try Ptrace.signalMask(tid) }
            try Self.step("SETSIGMASK") { () throws(Errno) in try Ptrace.setSignalMask(tid, UInt64.max) }
            savedSignalMask = mask
            state = .saved
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    private func stop() throws(InjectorError) {
        try Self.step("INTERRUPT") { () throws(Errno) in try Ptrace.interrupt(tid) }
        clock_gettime(CLOCK_MONOTONIC, &stoppedAt)
        // A real signal may arrive first: deliver it and ask again (bounded).
        for _ in 0..<16 {
            switch try Self.step("waitpid") { () throws(Errno) in try Ptrace.waitStop(tid) } {
            case .eventStop:
                return
            case .signal(let sig):
                try Self.step("CONT") { () throws(Errno) in try Ptrace.resume(tid, signal: sig) }
                try Self.step("INTERRUPT") { () throws(Errno) in try Ptrace.interrupt(tid) }
            case .trap, .syscall:
                throw .unexpectedStop("a trap before any injection")
            case .exited:
                throw .threadGone(tid: tid)
            }
        }
        throw .unexpectedStop("signals kept arriving; thread not stopped")
    }

    /// Runs `nr(args)` in the stopped thread and returns the raw result (negative errno on error).
    public func syscall(_ nr: Int, _ args: [UInt64]) throws(InjectorError) -> Int64 {
        precondition(state == .saved || state == .injected, "inject only into a stopped thread with saved registers")
        let regs = Arch.injection(saved, gadget: gadget, nr: nr, args: args)
        if state == .saved { clock_gettime(CLOCK_MONOTONIC, &injectedAt) }
        try Self.step("SETREGSET") { () throws(Errno) in try Ptrace.setRegs(tid, regs) }
        state = .injected
        // Run to the injected call's entry stop, then to its exit stop, and read the result
        // there (PTRACE_SYSCALL, never a single step: see Ptrace.runToSyscallStop). A signal
        // that stops the thread meanwhile (all are blocked but SIGKILL and SIGSTOP) is kept
        // for the release.
        var entered = false
        for _ in 0..<32 {
            try Self.step("SYSCALL") { () throws(Errno) in try Ptrace.runToSyscallStop(tid) }
            let stop = try Self.step("waitpid") { () throws(Errno) in try Ptrace.waitStop(tid) }
            atEntryStop = false  // only once the thread has left the stop it was in
            switch stop {
            case .syscall:
                switch Result(catching: { () throws(Errno) in try Ptrace.syscallInfo(tid) }) {
                case .success(.entry(let number)):
                    atEntryStop = true
                    guard number == Int64(nr) else { throw .unexpectedStop("a syscall entry of \(number), not of the injected \(nr)") }
                    entered = true
                case .success(.exit(let result)):
                    guard entered else { throw .unexpectedStop("a syscall exit before the injected call entered") }
                    return result
                case .success(.none):
                    throw .unexpectedStop("a syscall stop that the kernel does not call one")
                case .failure:
                    // No PTRACE_GET_SYSCALL_INFO (Linux < 5.3): entry and exit stops alternate.
                    if entered {
                        return Arch.result(try Self.step("GETREGSET") { () throws(Errno) in try Ptrace.getRegs(tid) })
                    }
                    atEntryStop = true
                    entered = true
                }
            case .signal(let sig):
                pendingSignal = sig
            case .eventStop:
                continue
            case .trap:
                throw .unexpectedStop("a SIGTRAP during the injected syscall")
            case .exited:
                throw .threadGone(tid: tid)
            }
        }
        throw .unexpectedStop("signals kept arriving during the injected syscall")
    }

    /// Restores the saved registers (with the restart fix-up) and detaches; safe to call twice.
    /// A thread nothing was injected into keeps its registers untouched: the kernel restarts
    /// its interrupted call itself.
    public func release() {
        if let mask = savedSignalMask {
            _ = try? Ptrace.setSignalMask(tid, mask)
            savedSignalMask = nil
        }
        if state == .saved {
            state = .restored
        }
        if state == .injected {
            if atEntryStop, var regs = try? Ptrace.getRegs(tid) {
                // orig_rax = -1 at the entry stop: the kernel skips the call (-ENOSYS).
                regs.orig_rax = UInt64.max
                _ = try? Ptrace.setRegs(tid, regs)
                _ = try? Ptrace.runToSyscallStop(tid)
                _ = try? Ptrace.waitStop(tid)
                atEntryStop = false
            }
            _ = try? Ptrace.setRegs(tid, Arch.restored(saved))
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            injectedNanoseconds = UInt64((now.tv_sec - injectedAt.tv_sec) * 1_000_000_000 + (now.tv_nsec - injectedAt.tv_nsec))
            state = .restored
        }
        if state == .restored || state == .stopped || state == .attached {
            _ = try? Ptrace.detach(tid, signal: pendingSignal)
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if stoppedAt.tv_sec != 0 {
                frozenNanoseconds = UInt64((now.tv_sec - stoppedAt.tv_sec) * 1_000_000_000 + (now.tv_nsec - stoppedAt.tv_nsec))
            }
            state = .detached
            signals?.release()
        }
    }

    static func step<T>(_ name: String, _ body: () throws(Errno) -> T) throws(InjectorError) -> T {
        do {
            return try body()
        } catch .noSuchProcess {
            throw .ptrace(step: name, errno: .noSuchProcess)
        } catch {
            throw .ptrace(step: name, errno: error)
        }
    }

    static func classifySeize(_ e: Errno, pid: Int32, tid: Int32, proc: ProcReader) -> InjectorError {
        switch e {
        case .noSuchProcess: return .threadGone(tid: tid)
        case .notPermitted:
            if let tracer = tracerPID(pid: pid, tid: tid, proc: proc), tracer != 0 {
                return .alreadyTraced(tid: tid, tracer: tracer)
            }
            return .notPermitted(tid: tid)
        default: return .ptrace(step: "SEIZE", errno: e)
        }
    }

    /// `TracerPid:` of `/proc/<pid>/task/<tid>/status`.
    public static func tracerPID(pid: Int32, tid: Int32, proc: ProcReader) -> Int32? {
        (try? proc.status(pid: pid, tid: tid))?.tracerPID
    }

    /// The address of a `syscall` instruction in the target's `[vdso]` (from `/proc/<pid>/maps`
    /// and `/proc/<pid>/mem`).
    public static func findGadget(pid: Int32, proc: ProcReader) throws(InjectorError) -> UInt64 {
        guard let maps = try? proc.readText(proc.path(pid, "maps"), pid: pid) else { throw .threadGone(tid: pid) }
        guard let line = maps.split(separator: "\n").first(where: { $0.hasSuffix("[vdso]") }),
              let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "),
              let start = UInt64(line[..<dash], radix: 16),
              let end = UInt64(line[line.index(after: dash)..<space], radix: 16), end > start
        else { throw .noGadget(pid: pid) }
        guard let text = try? proc.readMemory(pid: pid, address: start, count: Int(end - start)) else {
            throw .noGadget(pid: pid)
        }
        let insn = Arch.syscallInstruction
        var i = 0
        while i + insn.count <= text.count {
            if Array(text[i..<(i + insn.count)]) == insn { return start + UInt64(i) }
            i += 1
        }
        throw .noGadget(pid: pid)
    }
}
