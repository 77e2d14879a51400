import LinuxKernel
import MySQLSessions
import ProcFS
import SystemPackage

/// Why a connection from inside another network namespace could not even be attempted.
public enum NamespaceEntryError: Error, Sendable, Equatable {
    case processGone(pid: Int32)
    case notPermitted(pid: Int32, Errno)
}

extension MySQLConnection {
    /// Connects from inside the network namespace of `pid` (`--netns-of`): a thread joins it,
    /// connects, and ends; the connection's socket stays in that namespace. For a server in a
    /// container whose port this host cannot reach: `-h 127.0.0.1` is then the container's
    /// loopback. Host names are resolved there too.
    public static func connect(options: ConnectionOptions, inNetworkNamespaceOf pid: Int32,
                               proc: ProcReader = ProcReader()) throws(NamespaceEntryError) -> Result<MySQLConnection, MySQLError> {
        guard proc.exists(pid: pid) else { throw .processGone(pid: pid) }
        let path = proc.path(pid, "ns/net").string
        do {
            let made = try NetworkNamespace.run(in: path) { () -> Handover<Result<MySQLConnection, MySQLError>> in
                do throws(MySQLError) {
                    return Handover(value: .success(try MySQLConnection(options: options)))
                } catch {
                    return Handover(value: .failure(error))
                }
            }
            return made.value
        } catch {
            if error == .noSuchFileOrDirectory { throw .processGone(pid: pid) }
            throw .notPermitted(pid: pid, error)
        }
    }
}
