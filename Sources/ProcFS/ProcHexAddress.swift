import SocketModel

/// How the kernel printed each 32-bit word of an address in `/proc/net/tcp*`:
/// in the byte order of the machine that wrote the file.
public enum WordByteOrder: Sendable {
    case little, big
    public static var host: WordByteOrder { 1.littleEndian == 1 ? .little : .big }
}

extension SocketAddress {
    /// Decodes `/proc/net/tcp{,6}`'s `ADDR:PORT` hex form, e.g. `0100007F:0CEA` (127.0.0.1:3306).
    ///
    /// IPv4 is one 32-bit word and IPv6 four, each printed in the writer's byte order
    /// (reversed bytes on x86 and arm64); the port is plain big-endian hex.
    public init?(procHex: Substring, byteOrder: WordByteOrder = .host) {
        guard let decoded = NetTCPParser.address(ArraySlice(procHex.utf8), byteOrder: byteOrder) else { return nil }
        self = decoded
    }
}
