#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SystemPackage

/// The audit log: JSON lines appended to a file opened before anything is done. For each target,
/// an `intent` record is written before acting (a failed write stops the action: nothing is
/// done) and an `outcome` record after it; a dry run writes the outcome record only. Immutable,
/// and each append one write(2) to an O_APPEND file: threads may share one.
public final class AuditLog: Sendable {
    public let path: String
    private let fd: Int32

    /// `/var/log/myconn/audit.log` for root, else `$XDG_STATE_HOME/myconn/audit.log`
    /// (default `~/.local/state/myconn/audit.log`); nil for a user with neither an absolute
    /// `XDG_STATE_HOME` nor an absolute `HOME` (never a shared, world-writable directory).
    public static func defaultPath() -> String? {
        if geteuid() == 0 { return "/var/log/myconn/audit.log" }
        if let state = getenv("XDG_STATE_HOME").map({ String(cString: $0) }), state.hasPrefix("/") {
            return "\(state)/myconn/audit.log"
        }
        guard let home = getenv("HOME").map({ String(cString: $0) }), home.hasPrefix("/") else { return nil }
        return "\(home)/.local/state/myconn/audit.log"
    }

    /// Opens the file for appending: created 0600 when missing, an existing file's mode kept. A
    /// symbolic link as the last component is refused (`O_NOFOLLOW`: ELOOP), so that a link
    /// planted in a shared directory cannot send the records elsewhere. The missing directories
    /// of the path are made (0700) only when `createDirectories` (the default path's); a path a
    /// user names must have its directory already.
    /// - Throws: `Errno` from mkdir/open: the caller must not act.
    public init(path: String, createDirectories: Bool = false) throws(Errno) {
        self.path = path
        if createDirectories, let slash = path.lastIndex(of: "/"), slash > path.startIndex {
            try Self.makeDirectories(String(path[..<slash]))
        }
        // O_NONBLOCK: a FIFO with no reader fails (ENXIO) instead of hanging before an action.
        let f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard f >= 0 else { throw Errno(rawValue: errno) }
        fd = f
    }

    /// Why `path` cannot be the log, in words for a one-line message.
    public static func explain(_ error: Errno) -> String {
        switch error {
        case .tooManySymbolicLinkLevels: return "it is a symbolic link: name the file itself"
        case .noSuchFileOrDirectory: return "no such file or directory: its directory must exist"
        case .noSuchAddressOrDevice: return "a FIFO nobody reads"
        default: return "\(error)"
        }
    }

    deinit { close(fd) }

    static func makeDirectories(_ dir: String) throws(Errno) {
        var path = ""
        for part in dir.split(separator: "/", omittingEmptySubsequences: true) {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
        }
    }

    /// Appends lines (each a complete JSON object) with a single write(2), retried on EINTR:
    /// the records of one step land together or, on an error, the step is not taken.
    /// - Throws: `Errno` when the lines could not be written whole.
    public func append(_ jsonLines: [String]) throws(Errno) {
        let text = jsonLines.map { $0 + "\n" }.joined()
        var n = 0
        repeat {
            n = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        } while n < 0 && errno == EINTR
        guard n == text.utf8.count else { throw n < 0 ? Errno(rawValue: errno) : .noSpace }
    }

    public func append(_ jsonLine: String) throws(Errno) { try append([jsonLine]) }

    /// The real uid acting, for every record.
    public static var uid: UInt32 { getuid() }

    /// Now, as RFC 3339 UTC with microseconds.
    public static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 32)
        strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S", &tm)
        let micros = String(ts.tv_nsec / 1000)
        let base = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return base + "." + String(repeating: "0", count: 6 - micros.count) + micros + "Z"
    }
}
