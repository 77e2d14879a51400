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
}
