import Foundation

/// A throwaway mariadbd: temp datadir, free port, its own unix socket, loopback only.
/// Stopped and removed in `deinit`, so also when a test fails or throws.
final class TestServer {
    let dir: URL
    let port: UInt16
    var socketPath: String { dir.appendingPathComponent("mysqld.sock").path }
    private(set) var process: Process?
    /// The pid of mariadbd itself (under `unshare`, the child of the unshare process).
    private(set) var pid: Int32 = 0
    /// Whether it runs in a network namespace of its own.
    let ownNetworkNamespace: Bool
    /// Whether it also runs in a pid namespace of its own (as in a container): `pid` is then the
    /// host's pid of it, not the one it wrote to its pid file.
    let ownPidNamespace: Bool

    /// - Parameters:
    ///   - extraArgs: more mariadbd options (`--performance-schema=ON`, ...).
    ///   - resolveNames: leave name resolution on (HOST shows `localhost:port` for loopback clients).
    init(extraArgs: [String] = [], resolveNames: Bool = false, ownNetworkNamespace: Bool = false,
         ownPidNamespace: Bool = false) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        // Readable by an unprivileged user for the permission tests; the datadir stays mariadbd's.
        chmod(base.path, 0o755)
        dir = base
        port = freePort()
        self.ownNetworkNamespace = ownNetworkNamespace || ownPidNamespace
        self.ownPidNamespace = ownPidNamespace
        let install = try run("/usr/bin/mariadb-install-db", [
            "--no-defaults", "--datadir=\(base.appendingPathComponent("data").path)",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ])
        guard install.status == 0 else { throw TestFailure("mariadb-install-db failed: \(install.stderr)") }
        var args = [
            "--no-defaults", "--datadir=\(base.appendingPathComponent("data").path)", "--port=\(port)",
            "--socket=\(socketPath)", "--user=root", "--bind-address=127.0.0.1,::1",
            "--pid-file=\(base.appendingPathComponent("mysqld.pid").path)",
            "--log-error=\(base.appendingPathComponent("error.log").path)",
            "--innodb-buffer-pool-size=16M", "--max-connections=500", "--table-open-cache=64",
        ] + extraArgs
        if !resolveNames { args.append("--skip-name-resolve") }
        let p = Process()
        if ownNetworkNamespace || ownPidNamespace {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            let namespaces = ownPidNamespace ? ["--pid", "--net", "--fork", "--mount-proc"] : ["--net"]
            p.arguments = namespaces + ["/bin/sh", "-c", "ip link set lo up && exec /usr/sbin/mariadbd \"$@\"", "sh"] + args
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/mariadbd")
            p.arguments = args
        }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        pid = p.processIdentifier
        try waitReady()
        try sql("DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES")
    }

    private func waitReady() throws {
        let pidFile = dir.appendingPathComponent("mysqld.pid").path
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
               let p = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               FileManager.default.fileExists(atPath: socketPath) {
                // Same pid namespace: the pid file holds the host's pid. In its own, mariadbd is
                // the child unshare forked: its host pid is in unshare's children list.
                pid = ownPidNamespace ? Self.childPID(of: process!.processIdentifier) ?? p : p
                return
            }
            guard process?.isRunning == true else { break }
            usleep(20_000)
        }
        let log = (try? String(contentsOf: dir.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
        throw TestFailure("mariadbd did not start:\n\(log.suffix(2000))")
    }

    static func childPID(of parent: Int32) -> Int32? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(parent)/task")) ?? []
        for t in tasks {
            let children = (try? String(contentsOfFile: "/proc/\(parent)/task/\(t)/children", encoding: .utf8)) ?? ""
            if let first = children.split(separator: " ").first, let pid = Int32(first) { return pid }
        }
        return nil
    }

    /// Runs SQL as root through the unix socket with the `mariadb` client.
    @discardableResult
    func sql(_ statements: String) throws -> String {
        let r = try run("/usr/bin/mariadb", ["--no-defaults", "-uroot", "-S", socketPath, "-N", "-B", "-e", statements])
        guard r.status == 0 else { throw TestFailure("SQL failed: \(statements): \(r.stderr)") }
        return r.stdout
    }

    /// `nsenter` into the server's network namespace, for clients and `ss` inside it.
    var netnsPrefix: [String] { ownNetworkNamespace ? ["/usr/bin/nsenter", "--net=/proc/\(pid)/ns/net"] : [] }

    deinit {
        if let process, process.isRunning {
            kill(pid, SIGTERM)
            if process.processIdentifier != pid { kill(process.processIdentifier, SIGTERM) }
            for _ in 0..<500 where process.isRunning { usleep(10_000) }
            if process.isRunning {
                kill(pid, SIGKILL)
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        try? FileManager.default.removeItem(at: dir)
    }
}
