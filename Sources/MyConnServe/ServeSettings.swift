import MyConnCore

/// Where `serve` listens: a TCP address, or a unix socket (mode 0660).
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// `127.0.0.1:9807`, `[::1]:9807`, `0.0.0.0:9807`, `unix:/run/myconn.sock`; port 0 lets the
    /// kernel choose (the address bound is printed). nil when it is none of these.
    public static func parse(_ text: String) -> ListenAddress? {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            return path.hasPrefix("/") && path.utf8.count < 108 ? .unix(path: path) : nil
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard IPAddress(text: host) != nil else { return nil }
        return .tcp(host: host, port: port)
    }

    /// Loopback or a unix socket: reads need no token there.
    public var isLocal: Bool {
        switch self {
        case .unix: return true
        case .tcp(let host, _):
            guard let ip = IPAddress(text: host)?.normalized else { return false }
            if case .v4(127, _, _, _) = ip { return true }
            return ip == IPAddress(text: "::1")
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// What the reaper inside `serve` does with its victims (`--reap`).
public enum ServeReapAction: String, Sendable, CaseIterable {
    case print, kill
    case killQuery = "kill-query"
    case close, probe
}

/// Everything `serve` runs with, resolved by the CLI.
public struct ServeSettings: Sendable {
    public var listen: ListenAddress
    /// The bearer token (`--token-file`); nil: every action is refused.
    public var token: String?
    /// Seconds between two snapshots.
    public var interval: Double
    public var auditPath: String
    /// Seconds an action watches for its outcome (as `--wait`).
    public var waitSeconds: Double
    public var probeTimeoutSeconds: Double
    /// The largest request body accepted, in bytes.
    public var maxBodyBytes: Int = 4096
    /// The `list` join each snapshot runs (made on the engine's thread).
    public var makeLister: @Sendable () -> Lister
    public var fallback: KernelFallback
    /// Opens the one SQL connection of the server's engine (and again when it was lost).
    public var connect: @Sendable () -> Result<MySQLConnection, MySQLError>
    /// `--rules FILE`: the reaper's rules and what it does with its victims.
    public var rules: ReapRules?
    public var reapAction: ServeReapAction = .print
    public var reapMethod: CloseMethod = .pidfd
    /// Reads the rules file again (SIGHUP is not used by serve: a `POST /reap/reload` could be).
    public var reloadRules: (@Sendable () -> Result<ReapRules, RulesUnreadable>)?

    public init(listen: ListenAddress, token: String?, interval: Double, auditPath: String, waitSeconds: Double,
                probeTimeoutSeconds: Double, makeLister: @escaping @Sendable () -> Lister, fallback: KernelFallback,
                connect: @escaping @Sendable () -> Result<MySQLConnection, MySQLError>) {
        self.listen = listen
        self.token = token
        self.interval = interval
        self.auditPath = auditPath
        self.waitSeconds = waitSeconds
        self.probeTimeoutSeconds = probeTimeoutSeconds
        self.makeLister = makeLister
        self.fallback = fallback
        self.connect = connect
    }
}
