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
