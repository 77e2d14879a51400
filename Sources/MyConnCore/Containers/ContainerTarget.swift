#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ProcFS

/// A container's mysqld as this host sees it: the engine's `State.Pid`, and the server's unix
/// socket reached through `/proc/<pid>/root` (the container's own file system).
public struct ContainerTarget: Sendable, Equatable {
    public var container: ContainerInfo
    public var pid: Int32 { container.pid }
    /// mysqld's unix socket as reachable from here (`/proc/<pid>/root/<path>`); nil: none found.
    public var socketFromHere: String?

    /// Where mysqld's socket usually is, when its command line names none (Debian and the
    /// official images first).
    public static let usualSockets = ["/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock",
                                      "/var/lib/mysql/mysql.sock", "/tmp/mysql.sock"]

    public static func resolve(_ name: String, engine: DockerEngine, proc: ProcReader = ProcReader()) throws(ContainerError) -> ContainerTarget {
        let info = try engine.inspect(name)
        var target = ContainerTarget(container: info)
        let named = (try? proc.readText(proc.path(info.pid, "cmdline"), pid: info.pid)).flatMap(Self.socketOption)
        for inside in (named.map { [$0] } ?? []) + usualSockets {
            let here = proc.path(info.pid, "root").string + inside
            if isSocket(here) {
                target.socketFromHere = here
                break
            }
        }
        return target
    }

    /// `--socket=PATH` or `--socket PATH` in a NUL-separated command line (the last one wins,
    /// as mysqld reads it).
    static func socketOption(_ cmdline: String) -> String? {
        let args = cmdline.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        var found: String?
        for (i, a) in args.enumerated() {
            if a.hasPrefix("--socket=") {
                found = String(a.dropFirst(9))
            } else if a == "--socket", i + 1 < args.count {
                found = args[i + 1]
            }
        }
        return found.flatMap { $0.hasPrefix("/") ? $0 : nil }
    }

    static func isSocket(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }
}
