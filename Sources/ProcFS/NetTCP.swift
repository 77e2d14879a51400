/// Which `/proc/<pid>/net/` file a TCP socket came from: `tcp` (IPv4) or `tcp6`.
public enum TCPFamily: String, Sendable {
    case tcp4, tcp6
    public var procFileName: String { self == .tcp4 ? "tcp" : "tcp6" }
}

/// One row of `/proc/<pid>/net/tcp` or `tcp6`.
public struct TCPSocketEntry: Hashable, Sendable {
    public var family: TCPFamily
    public var local: SocketAddress
    public var peer: SocketAddress
    public var state: TCPState
    public var sendQueue: UInt32
    public var recvQueue: UInt32
    public var uid: UInt32
    /// The socket inode, the key shared with `/proc/<pid>/fd` and sock_diag; 0 for orphaned sockets.
    public var inode: UInt64

    public init(family: TCPFamily, local: SocketAddress, peer: SocketAddress, state: TCPState,
                sendQueue: UInt32, recvQueue: UInt32, uid: UInt32, inode: UInt64) {
        self.family = family
        self.local = local
        self.peer = peer
        self.state = state
        self.sendQueue = sendQueue
        self.recvQueue = recvQueue
        self.uid = uid
        self.inode = inode
    }
}

/// Parses the text of `/proc/<pid>/net/tcp{,6}` (`proc(5)`); pure, no file system.
public enum NetTCPParser {
    /// All rows of the file; the header line is skipped.
    /// - Throws: ``ProcParseError/malformed(file:line:)`` naming the first bad line.
    public static func parse(_ text: String, family: TCPFamily,
                             byteOrder: WordByteOrder = .host) throws(ProcParseError) -> [TCPSocketEntry] {
        var out: [TCPSocketEntry] = []
        var lineNo = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            lineNo += 1
            if lineNo == 1 && line.contains("local_address") { continue }
            guard let entry = parseLine(line, family: family, byteOrder: byteOrder) else {
                throw .malformed(file: family.procFileName, line: String(line))
            }
            out.append(entry)
        }
        return out
    }

    /// One data row, e.g. `   8: 55F9B40A:0016 59CDB40A:2738 01 00000000:00000000 ... 5983909 ...`.
    public static func parseLine(_ line: Substring, family: TCPFamily,
                                 byteOrder: WordByteOrder = .host) -> TCPSocketEntry? {
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
        var fields: [Substring] = []
        fields.reserveCapacity(10)
        for f in line.split(separator: " ", maxSplits: 10, omittingEmptySubsequences: true) {
            fields.append(f)
            if fields.count == 10 { break }
        }
        guard fields.count == 10,
              let local = SocketAddress(procHex: fields[1], byteOrder: byteOrder),
              let peer = SocketAddress(procHex: fields[2], byteOrder: byteOrder),
              let stRaw = UInt8(fields[3], radix: 16), let state = TCPState(rawValue: stRaw),
              let colon = fields[4].firstIndex(of: ":"),
              let tx = UInt32(fields[4][..<colon], radix: 16),
              let rx = UInt32(fields[4][fields[4].index(after: colon)...], radix: 16),
              let uid = UInt32(fields[7]),
              let inode = UInt64(fields[9])
        else { return nil }
        let expectV6 = family == .tcp6
        guard local.ip.isV6 == expectV6, peer.ip.isV6 == expectV6 else { return nil }
        return TCPSocketEntry(family: family, local: local, peer: peer, state: state,
                              sendQueue: tx, recvQueue: rx, uid: uid, inode: inode)
    }
}

/// A line or value in a /proc file that does not have the documented form.
public enum ProcParseError: Error, Hashable, Sendable {
    case malformed(file: String, line: String)
}
