#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SystemPackage

/// The fields of `/proc/<pid>/status` (or `/proc/<pid>/task/<tid>/status`) myconn reads
/// (`proc(5)`); a field the kernel did not print is nil (NSpid: empty before Linux 4.1).
public struct ProcStatus: Sendable, Equatable {
    /// The command name (`Name:`, what `comm` holds).
    public var name: String?
    /// The thread-group id: the process a thread belongs to (`Tgid:`).
    public var tgid: Int32?
    /// The real uid, the first of the four `Uid:` columns.
    public var uid: UInt32?
    /// The pid of the process tracing it, 0 when none (`TracerPid:`).
    public var tracerPID: Int32?
    /// Its id in each pid namespace it is in, from the one this /proc shows to its own
    /// innermost (`NSpid:`).
    public var namespacedPIDs: [Int32] = []
    /// The effective capability set, one bit per capability (`CapEff:`, hex).
    public var effectiveCapabilities: UInt64?

    /// Capability numbers (linux/capability.h) myconn asks about.
    public static let capDACReadSearch = 2, capNetAdmin = 12, capSysPtrace = 19

    /// Whether `CapEff:` holds capability `number`; nil when the field was not read.
    public func has(_ number: Int) -> Bool? { effectiveCapabilities.map { $0 & (1 << UInt64(number)) != 0 } }

    /// This thread's own status (`/proc/thread-self/status`: capabilities are per thread, and
    /// `/proc/<getpid()>` names another process where /proc is another pid namespace's).
    public static func ofThisThread() -> ProcStatus? {
        (try? ProcReader().readText(FilePath("/proc/thread-self/status"), pid: getpid())).map(ProcStatus.init(text:))
    }

    public init(name: String? = nil, tgid: Int32? = nil, uid: UInt32? = nil, tracerPID: Int32? = nil,
                namespacedPIDs: [Int32] = []) {
        self.name = name
        self.tgid = tgid
        self.uid = uid
        self.tracerPID = tracerPID
        self.namespacedPIDs = namespacedPIDs
    }

    /// Parses the text of the file; pure. Lines of other fields are skipped.
    public init(text: String) {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let values = line[line.index(after: colon)...].split(whereSeparator: { $0 == "\t" || $0 == " " })
            switch line[..<colon] {
            case "Name": name = String(line[line.index(after: colon)...].drop { $0 == "\t" || $0 == " " })
            case "Tgid": tgid = values.first.flatMap { Int32($0) }
            case "Uid": uid = values.first.flatMap { UInt32($0) }
            case "TracerPid": tracerPID = values.first.flatMap { Int32($0) }
            case "NSpid": namespacedPIDs = values.compactMap { Int32($0) }
            case "CapEff": effectiveCapabilities = values.first.flatMap { UInt64($0, radix: 16) }
            default: break
            }
        }
    }
}
