#if canImport(Glibc)
@preconcurrency import Glibc
#endif

func fputsStderr(_ s: String) {
    fputs(s, stderr)
}

enum Terminal {
    static func writeStdout(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeStdout($0) }
    }

    static func writeStdout(_ bytes: UnsafeRawBufferPointer) {
        _ = fwrite(bytes.baseAddress, 1, bytes.count, stdout)
        fflush(stdout)
    }

    /// Columns of the terminal on stdout: `$COLUMNS`, else `TIOCGWINSZ`; nil when stdout is
    /// not a terminal (`$COLUMNS` included), so piped output is never cut.
    static func width() -> Int? {
        guard isatty(STDOUT_FILENO) == 1 else { return nil }
        if let env = getenv("COLUMNS"), let n = Int(String(cString: env)), n > 0 { return n }
        var ws = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 else { return nil }
        return Int(ws.ws_col)
    }

    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    /// Reads one line from the terminal with echo off (`termios(3)`).
    static func readSecret(prompt: String) -> String? {
        fputs(prompt, stderr)
        var old = termios()
        let tty = isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &old) == 0
        if tty {
            var quiet = old
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        defer {
            if tty {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &old)
                fputs("\n", stderr)
            }
        }
        return readLine(strippingNewline: true)
    }
}
