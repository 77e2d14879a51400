import SocketModel

/// What a fault does to one connection's packets. Drops, loss and rate are nftables rules in
/// mysqld's network namespace (this kernel has no netem: docs and DESIGN.md section 10).
public enum FaultKind: Sendable, Equatable {
    /// Every packet dropped: silence, no reset; healing lets the same connection go on.
    case blackhole
    /// Each packet dropped with this probability, in percent (0.1-100), by the kernel's
    /// `numgen random`.
    case loss(percent: Double)
    /// Packets over this rate dropped (an nftables `limit ... over` policer), in kbit/s.
    case rate(kbit: UInt64)

    public var name: String {
        switch self {
        case .blackhole: return "blackhole"
        case .loss: return "loss"
        case .rate: return "rate"
        }
    }

    /// `blackhole`, `loss:30`, `rate:512`: how a fault names itself in its rules' comments.
    public var token: String {
        switch self {
        case .blackhole: return "blackhole"
        case .loss(let p): return "loss:\(FaultKind.format(p))"
        case .rate(let k): return "rate:\(k)"
        }
    }

    public init?(token: Substring) {
        let parts = token.split(separator: ":", maxSplits: 1)
        switch (parts.first, parts.count) {
        case ("blackhole"?, 1): self = .blackhole
        case ("loss"?, 2):
            guard let p = Double(parts[1]), p > 0, p <= 100 else { return nil }
            self = .loss(percent: p)
        case ("rate"?, 2):
            guard let k = UInt64(parts[1]), k > 0 else { return nil }
            self = .rate(kbit: k)
        default: return nil
        }
    }

    static func format(_ p: Double) -> String { p == p.rounded() ? String(Int(p)) : String(p) }

    /// What `--list` and the preview say.
    public var summary: String {
        switch self {
        case .blackhole: return "blackhole"
        case .loss(let p): return "loss \(FaultKind.format(p))%"
        case .rate(let k): return "rate \(k) kbit/s"
        }
    }
}

/// Which packets of the connection: those mysqld sends, those it receives, or both.
public enum FaultDirection: String, Sendable, CaseIterable {
    case both
    /// mysqld's packets to the client (the output hook of mysqld's namespace).
    case toClient = "to-client"
    /// The client's packets to mysqld (the input hook).
    case toServer = "to-server"

    var toClient: Bool { self != .toServer }
    var toServer: Bool { self != .toClient }
}

/// The connection a fault is made for, as read from mysqld's own socket at the moment of acting.
public struct FaultConnection: Sendable, Equatable {
    /// mysqld's end and the client's, IPv4-mapped addresses unmapped (IPv4 on the wire).
    public var server: SocketAddress
    public var client: SocketAddress
    public var inode: UInt64
    public var cookie: UInt64

    public init(server: SocketAddress, client: SocketAddress, inode: UInt64, cookie: UInt64) {
        self.server = server.normalized
        self.client = client.normalized
        self.inode = inode
        self.cookie = cookie
    }

    public var isIPv4: Bool { !server.ip.isV6 && !client.ip.isV6 }
}

/// One fault as it lives in the kernel: its rules' comments carry all of this, so `--list`,
/// `--heal` and the clean-up of another myconn process read it back from the ruleset itself.
public struct FaultRecord: Sendable, Equatable {
    /// Unique within the namespace's table while the fault lives.
    public var id: Int
    /// The mysqld it was made for: several may share a network namespace (and so our table),
    /// and each one's faults are listed, swept and healed apart.
    public var mysqldPID: Int32
    public var session: UInt64?
    public var connection: FaultConnection
    public var kind: FaultKind
    public var direction: FaultDirection
    /// Seconds since the epoch.
    public var created: Int64
    /// When the kernel drops the fault's elements (`--for`); nil: until healed.
    public var until: Int64?

    public init(id: Int, mysqldPID: Int32, session: UInt64?, connection: FaultConnection, kind: FaultKind, direction: FaultDirection,
                created: Int64, until: Int64?) {
        self.id = id
        self.mysqldPID = mysqldPID
        self.session = session
        self.connection = connection
        self.kind = kind
        self.direction = direction
        self.created = created
        self.until = until
    }
}

/// How long a fault lasts, as `fault --for` and `serve`'s `"for"` take it.
public enum FaultDuration {
    /// `500ms`, `3s`, `2m`, `1h`, or plain seconds; nil when not one, or over a day.
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var value: Double?
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let v = Double(text.dropLast(suffix.count)) { value = v * scale; break }
        }
        if value == nil { value = Double(text) }
        guard let v = value, v >= 0.001, v <= 86400 else { return nil }
        return v
    }
}
