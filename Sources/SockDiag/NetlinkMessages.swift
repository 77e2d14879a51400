/// The framing of every netlink reply (`netlink(7)`): a datagram is a run of `struct nlmsghdr`
/// (u32 len, u16 type, u16 flags, u32 seq, u32 pid) each followed by its payload, 4-byte
/// aligned; a sock_diag payload ends in a run of `struct rtattr` (u16 len, u16 type). The one
/// walker of both, for inet_diag, unix_diag and the SOCK_DESTROY acknowledgement.
public enum NetlinkMessages {
    static let headerLength = 16
    static let nlmsgError: UInt16 = 2, nlmsgDone: UInt16 = 3

    /// One message of a datagram: its type and where its payload (after the header) lies.
    struct Message {
        var type: UInt16
        var offset: Int
        var payload: Range<Int>
    }

    /// Calls `body` with each message in order, until it returns false or the datagram ends.
    /// - Throws: ``InetDiag/ReplyError/malformed(_:)`` for a header whose length runs past the datagram.
    static func forEach(in bytes: [UInt8], _ body: (Message) throws(InetDiag.ReplyError) -> Bool) throws(InetDiag.ReplyError) {
        var off = 0
        while off + headerLength <= bytes.count {
            let len = Int(InetDiag.read32(bytes, off))
            guard len >= headerLength, off + len <= bytes.count else { throw .malformed("nlmsghdr length \(len) at \(off)") }
            let m = Message(type: InetDiag.read16(bytes, off + 4), offset: off, payload: (off + headerLength)..<(off + len))
            guard try body(m) else { return }
            off += (len + 3) & ~3
        }
    }

    /// The errno of an `NLMSG_ERROR` message (positive; 0 for an acknowledgement).
    static func errorCode(_ bytes: [UInt8], _ m: Message) throws(InetDiag.ReplyError) -> Int32 {
        guard m.payload.count >= 4 else { throw .malformed("short NLMSG_ERROR") }
        let raw = Int32(bitPattern: InetDiag.read32(bytes, m.payload.lowerBound))
        // -Int32.min does not exist: the trap a fuzzed reply found (Tests/Fuzz/findings/unix-diag).
        guard raw != .min else { throw .malformed("NLMSG_ERROR errno \(raw)") }
        return -raw
    }

    /// One datagram of a dump reply: `body` gets the payload of each `SOCK_DIAG_BY_FAMILY`
    /// (or, answering ``InetDiag/bothFamiliesDumpRequest(states:sourcePort:sequence:withInfo:)``,
    /// `TCPDIAG_GETSOCK`) message and its header's offset. Returns true once `NLMSG_DONE` ended the dump.
    /// - Throws: ``InetDiag/ReplyError/kernel(errno:)`` for an `NLMSG_ERROR` with an errno.
    static func dump(_ bytes: [UInt8], _ body: (_ payload: Range<Int>, _ at: Int) throws(InetDiag.ReplyError) -> Void)
        throws(InetDiag.ReplyError) -> Bool {
        var done = false
        try forEach(in: bytes) { (m: Message) throws(InetDiag.ReplyError) -> Bool in
            switch m.type {
            case nlmsgDone:
                done = true
                return false
            case nlmsgError:
                let code = try errorCode(bytes, m)
                if code != 0 { throw .kernel(errno: code) }
            case InetDiag.sockDiagByFamily, InetDiag.tcpDiagGetSock:
                try body(m.payload, m.offset)
            default:
                break
            }
            return true
        }
        return done
    }

    /// Calls `body` with the type and payload of each `struct rtattr` in `range`; a length that
    /// runs past it ends the walk.
    static func forEachAttribute(in bytes: [UInt8], _ range: Range<Int>, _ body: (_ type: UInt16, _ payload: Range<Int>) -> Void) {
        var a = range.lowerBound
        while a + 4 <= range.upperBound {
            let alen = Int(InetDiag.read16(bytes, a))
            guard alen >= 4, a + alen <= range.upperBound else { return }
            body(InetDiag.read16(bytes, a + 2), (a + 4)..<(a + alen))
            a += (alen + 3) & ~3
        }
    }
}
