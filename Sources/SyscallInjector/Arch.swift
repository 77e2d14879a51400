import CShims

/// Everything architecture-specific of the injector, in one place (shared/DESIGN.md section 7).
/// arm64 is an addition here: x8 for the number, x0..x5, pc, `svc #0` = 01 00 00 d4, no
/// restart fix-up (the kernel rewinds before the stop), dup3 instead of dup2.
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

    static func programCounter(_ r: myconn_regs) -> UInt64 { r.rip }

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
