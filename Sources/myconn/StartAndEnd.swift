import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What `main` checks before a command runs and after it ends: the standard descriptors, the
/// arguments the parser would take badly, and whether the output was written.
enum StartAndEnd {
    /// Opens /dev/null on 0, 1 or 2 when one is closed, before anything else is opened: otherwise
    /// the MySQL connection (or the audit log) would get that number, and a preview meant for
    /// stderr would be written into it. True when stdout was the closed one: the command then
    /// does nothing (it could not say what it did).
    static func openStandardDescriptors() -> Bool {
        var stdoutClosed = false
        for fd in Int32(0)...2 where fcntl(fd, F_GETFD) < 0 && errno == EBADF {
            // The lowest free number: this very fd, since the lower ones are open by now.
            let null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if null != fd, null >= 0 { _ = dup2(null, fd); close(null) }
            if fd == 1 { stdoutClosed = true }
        }
        return stdoutClosed
    }

    /// Overwrites a password given in the arguments (`-pSECRET`, `--password=SECRET`) with `x`s
    /// in the process's own argv, as the `mysql` client does: `/proc/<pid>/cmdline` is readable by
    /// every user for as long as `top`, `reap` or `serve` run. Called after the arguments were
    /// copied (`CommandLine.arguments`). Option files or `MYSQL_PWD` keep it out of argv entirely.
    static func scrubPasswords() {
        let argv = CommandLine.unsafeArgv
        var passthrough = false
        for i in 1..<Int(CommandLine.argc) {
            guard let arg = argv[i] else { continue }
            let text = String(cString: arg)
            if text == "--" { passthrough = true }
            if passthrough { continue }
            let start: Int
            if text.hasPrefix("--password=") {
                start = "--password=".utf8.count
            } else if text.hasPrefix("-p"), !text.hasPrefix("--"), text.utf8.count > 2 {
                start = 2
            } else {
                continue
            }
            for j in start..<text.utf8.count { arg[j] = CChar(UInt8(ascii: "x")) }
        }
    }

    /// The commands whose positional arguments are session ids.
    static let idCommands: Set<String> = ["kill", "close", "probe", "fault"]

    /// The argument parser's time grows with the square of the number of arguments (40,000 ids
    /// took 44 s): a run of bare session ids is handed to it as one comma-joined value
    /// (``SessionIDs``). The first of a run stays apart, since it may be the value of the option
    /// before it (`--wait 5 6 7`: 5 is --wait's); no option takes two values.
    static func packIDs(_ args: [String]) -> [String] {
        guard let name = args.first, idCommands.contains(name) else { return args }
        var out: [String] = []
        out.reserveCapacity(args.count)
        var run: [String] = []
        func flush() {
            if let first = run.first { out.append(first) }
            if run.count > 1 { out.append(run.dropFirst().joined(separator: ",")) }
            run = []
        }
        for arg in args {
            if !arg.isEmpty, arg.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                run.append(arg)
            } else {
                flush()
                out.append(arg)
            }
        }
        flush()
        return out
    }

    /// Arguments refused before parsing, each in words that name it: a negative number (no
    /// option of myconn takes one, and the parser would read `-5` as an unknown short option
    /// and say "Missing value" or ignore it), and `kill --method`.
    static func refusal(_ args: [String]) -> Failure? {
        for (i, arg) in args.enumerated() where arg.hasPrefix("-") && arg.count > 1 && Double(arg) != nil {
            let before = i > 0 && args[i - 1].hasPrefix("--") && !args[i - 1].contains("=") ? "\(args[i - 1]) " : ""
            return Failure(.usage, "\(before)\(arg): negative numbers are not accepted, as session ids, fds, pids or seconds (see myconn --help)")
        }
        if args.first == "kill", args.contains(where: { $0 == "--method" || $0.hasPrefix("--method=") }) {
            return Failure(.usage, "kill ends sessions through SQL and has no --method; to cut a socket: myconn close ID --method ptrace|pidfd|destroy")
        }
        return nil
    }

    /// The parser's "The value 'X' is invalid for '<ids>'", said as what it is: X is not a
    /// session id (an id too large, or a word the parser took as one: often the value of an
    /// option that command does not have).
    static func idMessage(_ message: String) -> String? {
        let prefix = "The value '", suffix = "' is invalid for '<ids>'"
        guard message.hasPrefix(prefix), let end = message.firstRange(of: suffix) else { return nil }
        let value = message[message.index(message.startIndex, offsetBy: prefix.count)..<end.lowerBound]
        let bad = value.split(separator: ",").first { UInt64($0) == nil } ?? Substring(value)
        return "'\(bad.prefix(40))' is not a session id (ids are whole numbers up to 18446744073709551615; a word here is often the value of an option this command does not have)"
    }

    /// After the command: what stdout could not take (a full disk, a closed pipe's EPIPE with
    /// SIGPIPE ignored) fails the run in one line, status 16. A run already failing keeps its own
    /// status.
    static func outputFailure() -> Failure? {
        guard fflush(stdout) != 0 || ferror(stdout) != 0 else { return nil }
        let why = String(cString: strerror(errno))
        return Failure(.outputFailed, "cannot write the output (\(why)); any action taken is in the audit log")
    }
}

/// Session ids as the parser takes them: one id, or ids joined by commas (what
/// ``StartAndEnd/packIDs(_:)`` makes of a long run; a person may type them so too).
struct SessionIDs: ExpressibleByArgument {
    var ids: [UInt64]

    init?(argument: String) {
        var ids: [UInt64] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let id = UInt64(part) else { return nil }
            ids.append(id)
        }
        self.ids = ids
    }
}
