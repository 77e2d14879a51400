#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Hummingbird
import Logging
import MyConnCore
import NIOCore
import ServiceLifecycle

/// Why `serve` could not start.
public struct ServeError: Error, Sendable {
    public enum Kind: Sendable { case auditLog, listen, thread }
    public var kind: Kind
    public var message: String
}

/// `myconn serve`: the engine (snapshots, the reaper, actions) on its thread, the HTTP API and
/// `/metrics` on Hummingbird, SIGTERM and SIGINT through swift-service-lifecycle. On either,
/// the server stops accepting, lets the requests in flight (and the actions they wait on)
/// finish, stops the engine after its job in progress, heals the delays it holds (the only faults
/// without a kernel expiry: nftables faults with `for` expire in the kernel, and those without
/// stay until healed, as with `myconn fault`), and returns.
public enum Serve {
    /// - Parameter listening: called once with the address bound (`127.0.0.1:40213`, `unix:/path`).
    public static func run(_ settings: ServeSettings, listening: @escaping @Sendable (String) -> Void) async throws(ServeError) {
        let audit: AuditLog
        do { audit = try AuditLog(path: settings.auditPath) } catch {
            throw ServeError(kind: .auditLog, message: "cannot write the audit log \(settings.auditPath) (\(error)); nothing was started: pass --audit-log PATH")
        }
        let metrics = ServeMetrics()
        let engine = Engine(settings: settings, metrics: metrics, audit: audit)
        do { try engine.start() } catch {
            throw ServeError(kind: .thread, message: "cannot start the engine's thread (\(error))")
        }
        // The engine stops after its job in progress; then the delays, which have no kernel
        // expiry, are healed (their rules out, their packets let go, their outcomes recorded).
        defer {
            engine.stop()
            engine.delays.heal()
        }
        let gate = Gatekeeper(token: settings.token.map { Array($0.utf8) }, listen: settings.listen,
                              audit: { line in try? audit.append(line) }, refusals: Refusals { metrics.countUnauthorized() })
        let router = Routes.router(engine: engine, gate: gate, maxBody: settings.maxBodyBytes)
        var logger = Logger(label: "myconn-serve")
        logger.logLevel = .warning
        let address: BindAddress
        switch settings.listen {
        case .tcp(let host, let port): address = .hostname(host, port: port)
        case .unix(let path):
            if let why = UnixListener.prepare(path) { throw ServeError(kind: .listen, message: why) }
            address = .unixDomainSocket(path: path)
        }
        let listen = settings.listen
        let app = Application(
            router: router,
            configuration: .init(address: address, serverName: "myconn"),
            onServerRunning: { channel in
                switch listen {
                case .unix(let path):
                    // Owner and group only: whoever may talk to mysqld's sockets through us.
                    chmod(path, 0o660)
                    listening("unix:\(path)")
                case .tcp(let host, _):
                    let port = channel.localAddress?.port ?? 0
                    listening(ListenAddress.tcp(host: host, port: port).description)
                }
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do { try await group.run() } catch {
            throw ServeError(kind: .listen, message: "cannot serve on \(settings.listen) (\(error))")
        }
        if case .unix(let path) = settings.listen { unlink(path) }
    }
}

enum UnixListener {
    /// A socket file left by a server that is gone is removed; a live one, or anything else at
    /// the path, is left alone and named.
    static func prepare(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { return "--listen unix:\(path): the path exists and is not a socket; nothing was started" }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
        }
        let live = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        if live { return "--listen unix:\(path): another server answers there; nothing was started" }
        unlink(path)
        return nil
    }
}
