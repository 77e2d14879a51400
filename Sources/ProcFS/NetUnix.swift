/// One row of `/proc/<pid>/net/unix` (`unix(7)`, `proc(5)`).
public struct UnixSocketEntry: Hashable, Sendable {
    /// `SOCK_STREAM` = 1, `SOCK_DGRAM` = 2, `SOCK_SEQPACKET` = 5.
    public var type: UInt16
    /// `SS_UNCONNECTED` = 1, `SS_CONNECTING` = 2, `SS_CONNECTED` = 3, `SS_DISCONNECTING` = 4.
    public var state: UInt8
    /// `__SO_ACCEPTCON` (0x10000) marks a listening socket.
    public var isListening: Bool
    public var inode: UInt64
    /// The bound path; accepted sockets show their listener's path. `@...` for abstract names.
    public var path: String?

    public var isConnectedStream: Bool { type == 1 && state == 3 && !isListening }

    public init(type: UInt16, state: UInt8, isListening: Bool, inode: UInt64, path: String?) {
        self.type = type
        self.state = state
        self.isListening = isListening
        self.inode = inode
        self.path = path
    }
}

/// Parses the text of `/proc/<pid>/net/unix`; pure, no file system.
public enum NetUnixParser {
    /// - Throws: ``ProcParseError/malformed(file:line:)`` naming the first bad line.
    public static func parse(_ text: String) throws(ProcParseError) -> [UnixSocketEntry] {
        var out: [UnixSocketEntry] = []
        var first = true
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if first { first = false; if line.hasPrefix("Num") { continue } }
            // Num RefCount Protocol Flags Type St Inode [Path]
            let f = line.split(separator: " ", maxSplits: 7, omittingEmptySubsequences: true)
            guard f.count >= 7,
                  let flags = UInt32(f[3], radix: 16),
                  let type = UInt16(f[4], radix: 16),
                  let st = UInt8(f[5], radix: 16),
                  let inode = UInt64(f[6])
            else { throw .malformed(file: "unix", line: String(line)) }
            let path = f.count > 7 ? String(f[7]) : nil
            out.append(UnixSocketEntry(type: type, state: st, isListening: flags & 0x10000 != 0,
                                       inode: inode, path: path))
        }
        return out
    }
}
