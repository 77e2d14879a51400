// The kernel's vocabulary (addresses, TCP states, socket entries, tcp_info) and the SQL side's
// (connection options, the connection a front end holds, its errors, processlist rows) are part
// of the core's own API: front ends and their tests see them through the core, and import
// nothing below it.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ProcFS
@_exported import SocketModel
@_exported import MySQLSessions

/// What a front end tells a user who cannot read mysqld's descriptors: `/proc/<pid>/fd` of a
/// process of another uid is opened with CAP_DAC_READ_SEARCH (the directory is its owner's,
/// mode 0500) and its links read with CAP_SYS_PTRACE (measured: README, "Privileges").
public let descriptorPrivilegeAdvice = "run as root or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"

/// Whether this process may read the descriptors of a process of another uid: as root, or with
/// both capabilities of ``descriptorPrivilegeAdvice`` in its effective set.
public func mayReadOthersDescriptors() -> Bool {
    if geteuid() == 0 { return true }
    let own = ProcStatus.ofThisThread()
    return own?.has(ProcStatus.capSysPtrace) == true && own?.has(ProcStatus.capDACReadSearch) == true
}
