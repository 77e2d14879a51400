import SocketModel

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
