import CShims

/// Everything architecture-specific of the injector, in one place: the register layout of an
/// injected syscall and the restart fix-up. x86_64 only; another architecture stops the build.
enum Arch {
    #if arch(x86_64)
    /// `syscall`.
    static let syscallInstruction: [UInt8] = [0x0F, 0x05]
    static let nrRestartSyscall: UInt64 = 219

    /// The saved registers pointed at `gadget` with syscall `nr(args)`. `orig_rax = -1` keeps
    /// the kernel's own restart logic away from the injected state.
    static func injection(_ saved: myconn_regs, gadget: UInt64, nr: Int, args: [UInt64]) -> myconn_regs {
        var r = saved
        r.rip = gadget
        r.rax = UInt64(nr)
        r.orig_rax = UInt64.max
        let a = args + [UInt64](repeating: 0, count: 6 - args.count)
        r.rdi = a[0]; r.rsi = a[1]; r.rdx = a[2]; r.r10 = a[3]; r.r8 = a[4]; r.r9 = a[5]
        return r
    }

    static func result(_ r: myconn_regs) -> Int64 { Int64(bitPattern: r.rax) }

    /// The saved registers with the interrupted-syscall fix-up (CRIU `compel_get_task_regs`):
    /// a thread stopped inside a restartable syscall resumes by re-executing it.
    static func restored(_ saved: myconn_regs) -> myconn_regs {
        var r = saved
        guard Int64(bitPattern: saved.orig_rax) >= 0 else { return r }
        switch Int64(bitPattern: saved.rax) {
        case -512, -513, -514:  // ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND
            r.rax = saved.orig_rax
            r.rip = saved.rip &- 2
        case -516:              // ERESTART_RESTARTBLOCK
            r.rax = nrRestartSyscall
            r.rip = saved.rip &- 2
        default:
            break
        }
        return r
    }
    #else
    #error("the syscall injector has no register layout for this architecture")
    #endif
}

/// Syscall numbers of this architecture: the ones the injector runs in mysqld (dup, dup3,
/// shutdown, close), and the ones that tell a thread waiting on its client socket when read
/// from `/proc/<pid>/task/<tid>/syscall`.
public enum SyscallNumbers {
    #if arch(x86_64)
    public static let dup = 32, dup3 = 292, close = 3, shutdown = 48
    public static let read = 0, poll = 7, readv = 19, recvfrom = 45, recvmsg = 47, ppoll = 271
    /// What a thread stopped and continued inside a wait shows until that wait returns.
    public static let restartSyscall = 219
    /// Names for messages about what a thread waits on instead.
    static let names: [Int: String] = [
        0: "read", 7: "poll", 19: "readv", 23: "select", 35: "nanosleep", 45: "recvfrom", 47: "recvmsg",
        128: "rt_sigtimedwait", 202: "futex", 219: "restart_syscall", 230: "clock_nanosleep", 232: "epoll_wait", 270: "pselect6",
        271: "ppoll", 281: "epoll_pwait", 426: "io_uring_enter",
    ]
    #elseif arch(arm64)
    public static let dup = 23, dup3 = 24, close = 57, shutdown = 210
    public static let read = 63, poll = -1, readv = 65, recvfrom = 207, recvmsg = 212, ppoll = 73
    public static let restartSyscall = 128
    static let names: [Int: String] = [
        22: "epoll_pwait", 63: "read", 65: "readv", 72: "pselect6", 73: "ppoll", 98: "futex", 101: "nanosleep",
        115: "clock_nanosleep", 128: "restart_syscall", 137: "rt_sigtimedwait", 207: "recvfrom", 212: "recvmsg", 426: "io_uring_enter",
    ]
    #else
    #error("syscall numbers for this architecture are not known to myconn")
    #endif

    /// `futex (202)`, or the bare number for calls not in the table.
    public static func describe(_ number: Int) -> String {
        names[number].map { "\($0) (\(number))" } ?? "\(number)"
    }
}
