#if canImport(Glibc)
@preconcurrency import Glibc
#endif
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
        if Self.isUnixSocket(host: host) { self = .unixSocket; return }
        // The common cases, `a.b.c.d:port` and `v6:port`, read from the bytes without a String
        // between: the join parses one HOST per TCP session.
        var bytes = host
        if let fast = bytes.withUTF8({ Self.ipv4Endpoint($0) ?? Self.ipv6Endpoint($0) }) {
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

    /// Whether HOST names the unix socket (`localhost`, no port), as ``init(host:)`` reads it,
    /// without parsing the rest.
    public static func isUnixSocket(host: String?) -> Bool { host == "localhost" }

    /// `a.b.c.d:port` exactly (port 0-65535, no sign), else nil.
    static func ipv4Endpoint(_ b: UnsafeBufferPointer<UInt8>) -> SessionEndpoint? {
        guard let (colon, port) = portAfterLastColon(b),
              let ip = IPAddress.parseV4(UnsafeBufferPointer(rebasing: b[..<colon])) else { return nil }
        return .tcp(SocketAddress(ip: ip, port: port))
    }

    /// `v6:port` (an address `inet_pton(AF_INET6)` takes, no brackets), else nil.
    static func ipv6Endpoint(_ b: UnsafeBufferPointer<UInt8>) -> SessionEndpoint? {
        guard let (colon, port) = portAfterLastColon(b), colon < Int(INET6_ADDRSTRLEN) else { return nil }
        // inet_pton wants a C string: the address part, copied beside its NUL.
        var text = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 48 bytes
        var raw = in6_addr()
        let ok = withUnsafeMutableBytes(of: &text) { t -> Bool in
            t.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b)[..<colon]))
            t[colon] = 0
            return inet_pton(AF_INET6, t.baseAddress!.assumingMemoryBound(to: CChar.self), &raw) == 1
        }
        guard ok else { return nil }
        return .tcp(SocketAddress(ip: .v6(withUnsafeBytes(of: &raw) { IPv6Bytes($0) }), port: port))
    }

    /// The last colon's index and the decimal port after it (1-5 digits, at most 65535, no sign).
    static func portAfterLastColon(_ b: UnsafeBufferPointer<UInt8>) -> (colon: Int, port: UInt16)? {
        guard let colon = b.lastIndex(of: 0x3A), colon > 0, colon + 1 < b.count, b.count - colon - 1 <= 5 else { return nil }
        var port = 0
        for d in b[(colon + 1)...] {
            guard d >= 0x30 && d <= 0x39 else { return nil }
            port = port * 10 + Int(d - 0x30)
        }
        guard port <= 65535 else { return nil }
        return (colon, UInt16(port))
    }
}
