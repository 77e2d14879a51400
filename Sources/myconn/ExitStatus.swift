import ArgumentParser
import MyConnCore

/// myconn's documented exit statuses; README.md lists the same table.
enum ExitStatus: Int32 {
    case ok = 0
    case internalError = 1
    case cannotConnect = 2
    case accessDenied = 3
    case tooManyConnections = 4
    case mysqldNotFound = 5
    case incomplete = 6
    case badTarget = 7
    case notDone = 8
    case methodUnavailable = 9
    case auditLog = 10
    /// `probe`: a client was found dead (and the kernel dropped its connection).
    case peerDead = 11
    /// The prompt was answered no: nothing was done.
    case notConfirmed = 12
    /// Acted, then INT/TERM/HUP ended the wait; the outcome was recorded as interrupted.
    case interrupted = 13
    /// `--container`: the engine's API socket cannot be reached, or its reply is not understood.
    case containerEngine = 14
    /// The matchers (`--match-*`, `--client`, `--program`) selected no session: nothing touched.
    case noMatch = 15
    /// Standard output is closed, or a write to it failed (a full disk): nothing is done when it
    /// is closed at start.
    case outputFailed = 16
    case usage = 64

    static let helpText = """
        Exit status: 0 done; 2 server not reachable (down, refused, unknown host, or no answer within \
        --read-timeout); 3 login refused (user or password); 4 server full (Too many connections); \
        5 mysqld's process not found (no such running --container included), or --pid is not mysqld or is gone; 6 listed, but kernel \
        columns are missing (no permission); 7 a target cannot be acted on (nothing touched); \
        8 acted, but not every target is done (a session still there after --wait included); \
        9 the method is not available here (nothing touched); 10 the audit log cannot be written \
        (before acting: nothing touched); 11 probe found a client dead; 12 not confirmed at the \
        prompt (nothing touched); 13 interrupted by a signal during the wait (acted; recorded as \
        interrupted); 14 the container engine cannot be asked (--container); 15 the matchers (--match-*, --client, \
        --client-port, --program) selected no session (nothing touched); 16 standard output is closed \
        (nothing done) or cannot be written; 64 bad arguments; \
        1 anything else.
        """

    var exitCode: ExitCode { ExitCode(rawValue) }
}

/// How a command ends when it does not succeed: a status and, unless the output already said
/// it, one line for stderr. Thrown, never printed where it is made: `MyConn.main` prints it.
struct Failure: Error {
    var status: ExitStatus
    var message: String?

    init(_ status: ExitStatus, _ message: String? = nil) {
        self.status = status
        self.message = message
    }
}

/// NaN and the infinities pass a range check written as `x < a || x > b`: each named number is
/// refused first (`--wait nan`, `--interval inf`).
func requireFinite(_ values: [(name: String, value: Double?)]) throws {
    for (name, value) in values {
        if let value, !value.isFinite { throw ValidationError("\(name) must be a finite number, not \(value)") }
    }
}

/// One line to stderr, escaped for the terminal (it may quote a server's or a user's text).
func printError(_ line: String) {
    fputsStderr(TerminalText.escape(line) + "\n")
}
