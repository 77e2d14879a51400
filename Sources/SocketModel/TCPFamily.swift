/// A TCP socket's address family: IPv4 (`tcp`) or IPv6 (`tcp6`, IPv4-mapped clients included).
public enum TCPFamily: String, Sendable {
    case tcp4, tcp6
}
