/// The unix_diag part of NETLINK_SOCK_DIAG (`sock_diag(7)`, `linux/unix_diag.h`): which unix
/// socket is connected to which. `/proc/net/unix` does not say; `UDIAG_SHOW_PEER` does.
public enum UnixDiag {
    static let afUnix: UInt8 = 1
    static let showPeer: UInt32 = 0x4        // UDIAG_SHOW_PEER
    static let attrPeer: UInt16 = 2          // UNIX_DIAG_PEER
    /// `1 << TCP_ESTABLISHED`: connected stream sockets (unix sockets reuse TCP's state numbers).
    public static let established: UInt32 = 1 << 1

    /// A dump of the namespace's unix sockets in `states`, each with its peer's inode.
    public static func dumpRequest(states: UInt32, sequence: UInt32) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(40)
        InetDiag.append32(&b, 16 + 24)                                   // nlmsg_len
        InetDiag.append16(&b, InetDiag.sockDiagByFamily)                 // nlmsg_type
        InetDiag.append16(&b, InetDiag.flagRequest | InetDiag.flagDump)  // nlmsg_flags
        InetDiag.append32(&b, sequence)
        InetDiag.append32(&b, 0)
        b += [afUnix, 0, 0, 0]                                           // family, protocol, pad
        InetDiag.append32(&b, states)                                    // udiag_states
        InetDiag.append32(&b, 0)                                         // udiag_ino: any
        InetDiag.append32(&b, showPeer)                                  // udiag_show
        b += [UInt8](repeating: 0xFF, count: 8)                          // udiag_cookie: none
        return b
    }

    /// One unix socket of a dump: its inode and, when connected, its peer's.
    public struct Socket: Sendable, Equatable {
        public var inode: UInt64
        public var peer: UInt64?
        /// SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5.
        public var type: UInt8
        public var state: UInt8
    }

    /// Parses one datagram of a dump reply. `done` is true once `NLMSG_DONE` was seen.
    public static func parse(_ bytes: [UInt8]) throws(InetDiag.ReplyError) -> (sockets: [Socket], done: Bool) {
        var out: [Socket] = []
        let done = try NetlinkMessages.dump(bytes) { (payload: Range<Int>, at: Int) throws(InetDiag.ReplyError) in
            // struct unix_diag_msg: family, type, state, pad, u32 ino, u32 cookie[2] (16 bytes).
            let o = payload.lowerBound
            guard payload.count >= 16, bytes[o] == afUnix else { throw .malformed("unix_diag_msg at \(at)") }
            var s = Socket(inode: UInt64(InetDiag.read32(bytes, o + 4)), peer: nil, type: bytes[o + 1], state: bytes[o + 2])
            NetlinkMessages.forEachAttribute(in: bytes, (o + 16)..<payload.upperBound) { type, value in
                if type == attrPeer, value.count >= 4 { s.peer = UInt64(InetDiag.read32(bytes, value.lowerBound)) }
            }
            out.append(s)
        }
        return (out, done)
    }
}
