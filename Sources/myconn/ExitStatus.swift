import ArgumentParser

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
    case usage = 64

    static let helpText = """
        Exit status: 0 done; 2 server not reachable (down, refused, unknown host); 3 login refused \
        (user or password); 4 server full (Too many connections); 5 mysqld's process not found, or \
        --pid is not mysqld or is gone; 6 listed, but kernel columns are missing (no permission); \
        7 a target cannot be acted on (nothing touched); 8 acted, but not every target is done; \
        9 the method is not available here (nothing touched); 10 the audit log cannot be written \
        (nothing touched); 11 probe found a client dead; 64 bad arguments; 1 anything else.
        """

    var exitCode: ExitCode { ExitCode(rawValue) }
}

/// Prints one line to stderr and ends with the given status: the only way commands fail.
func fail(_ status: ExitStatus, _ message: String) -> ExitCode {
    printError("myconn: \(message)")
    return status.exitCode
}

func printError(_ line: String) {
    var stderr = StandardError()
    print(line, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        fputsStderr(string)
    }
}
