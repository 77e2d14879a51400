import ProcFS

/// Where a session's client is, as the processlist's HOST column says it.
public enum SessionEndpoint: Hashable, Sendable {
    /// `ip:port`: an exact peer address (IPv6 without brackets).
    case tcp(SocketAddress)
    /// `name:port`: the server resolved the client's address to a name.
    case named(host: String, port: UInt16)
    /// `localhost` with no port: the unix socket.
    case unixSocket
    /// Empty: a server thread with no client.
    case none
    /// Anything else, kept for the message.
    case unparsable(String)

    /// Parses HOST: split at the last colon, since IPv6 addresses have no brackets there.
    public init(host: String?) {
        guard let host, !host.isEmpty else { self = .none; return }
        if host == "localhost" { self = .unixSocket; return }
        // The common case, `a.b.c.d:port`, read from the bytes in one pass: the join parses one
        // HOST per TCP session.
        var bytes = host
        if let fast = bytes.withUTF8({ Self.ipv4Endpoint($0) }) {
            self = fast
            return
        }
        let utf8 = host.utf8
        guard let colon = utf8.lastIndex(of: 0x3A),  // ':'
              colon > utf8.startIndex,
              let port = UInt16(Substring(utf8[utf8.index(after: colon)...]))
        else { self = .unparsable(host); return }
        let name = String(Substring(utf8[..<colon]))
        if let ip = IPAddress(text: name) {
            self = .tcp(SocketAddress(ip: ip, port: port))
        } else {
            self = .named(host: name, port: port)
        }
    }

    /// `a.b.c.d:port` exactly (port 0-65535, no sign), else nil.
    static func ipv4Endpoint(_ b: UnsafeBufferPointer<UInt8>) -> SessionEndpoint? {
        guard let colon = b.lastIndex(of: 0x3A), colon > 0, colon + 1 < b.count, b.count - colon - 1 <= 5 else { return nil }
        var port = 0
        for d in b[(colon + 1)...] {
            guard d >= 0x30 && d <= 0x39 else { return nil }
            port = port * 10 + Int(d - 0x30)
        }
        guard port <= 65535, let ip = IPAddress.parseV4(UnsafeBufferPointer(rebasing: b[..<colon])) else { return nil }
        return .tcp(SocketAddress(ip: ip, port: UInt16(port)))
    }
}
