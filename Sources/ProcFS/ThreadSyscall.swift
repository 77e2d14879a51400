/// What a thread is doing, from `/proc/<pid>/task/<tid>/syscall` (`proc(5)`).
public enum ThreadSyscall: Hashable, Sendable {
    /// Blocked in syscall `number` with its six arguments.
    case blocked(number: Int, args: [UInt64], stackPointer: UInt64, programCounter: UInt64)
    /// Not in a syscall (`running`), or in none (`-1 sp pc`).
    case running

    /// Parses e.g. `7 0x7f71441f9928 0x1 0x1b77400 0x40 0x0 0x0 0x7f71441f98f0 0x7f715b71a26f`.
    public init?(text: Substring) {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let first = f.first else { return nil }
        if first == "running" { self = .running; return }
        guard let nr = Int(first) else { return nil }
        if nr == -1 { self = .running; return }
        guard f.count == 9 else { return nil }
        var values: [UInt64] = []
        for v in f.dropFirst() {
            guard v.hasPrefix("0x"), let n = UInt64(v.dropFirst(2), radix: 16) else { return nil }
            values.append(n)
        }
        self = .blocked(number: nr, args: Array(values[0..<6]), stackPointer: values[6], programCounter: values[7])
    }
}

/// Syscall numbers the join needs to recognise a thread waiting on its client socket.
public enum SyscallNumbers {
    #if arch(x86_64)
    public static let dup = 32, dup3 = 292, close = 3, shutdown = 48
    public static let read = 0, poll = 7, readv = 19, recvfrom = 45, recvmsg = 47, ppoll = 271
    /// Names for messages about what a thread waits on instead.
    static let names: [Int: String] = [
        0: "read", 7: "poll", 19: "readv", 23: "select", 35: "nanosleep", 45: "recvfrom", 47: "recvmsg",
        128: "rt_sigtimedwait", 202: "futex", 230: "clock_nanosleep", 232: "epoll_wait", 270: "pselect6",
        271: "ppoll", 281: "epoll_pwait", 426: "io_uring_enter",
    ]
    #elseif arch(arm64)
    public static let dup = 23, dup3 = 24, close = 57, shutdown = 210
    public static let read = 63, poll = -1, readv = 65, recvfrom = 207, recvmsg = 212, ppoll = 73
    static let names: [Int: String] = [
        22: "epoll_pwait", 63: "read", 65: "readv", 72: "pselect6", 73: "ppoll", 98: "futex", 101: "nanosleep",
        115: "clock_nanosleep", 137: "rt_sigtimedwait", 207: "recvfrom", 212: "recvmsg", 426: "io_uring_enter",
    ]
    #else
    #error("syscall numbers for this architecture are not known to myconn")
    #endif

    /// `futex (202)`, or the bare number for calls not in the table.
    public static func describe(_ number: Int) -> String {
        names[number].map { "\($0) (\(number))" } ?? "\(number)"
    }
}
