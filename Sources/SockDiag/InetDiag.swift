import SocketModel

/// The inet_diag part of NETLINK_SOCK_DIAG (`sock_diag(7)`, `linux/inet_diag.h`): requests as
/// bytes, replies from bytes. Pure; the socket is elsewhere.
public enum InetDiag {
    static let sockDiagByFamily: UInt16 = 20
    /// The older inet_diag request type (`TCPDIAG_GETSOCK`), whose dumps take both families.
    static let tcpDiagGetSock: UInt16 = 18
    static let flagRequest: UInt16 = 0x1, flagDump: UInt16 = 0x300
    static let ipprotoTCP: UInt8 = 6
    static let inetDiagInfo: UInt8 = 2
    public static let afInet: UInt8 = 2, afInet6: UInt8 = 10

    /// Bit `1 << state` for each TCP state.
    public static func states(_ s: [TCPState]) -> UInt32 { s.reduce(0) { $0 | (1 << UInt32($1.rawValue)) } }
    public static let allButListen: UInt32 = states(TCPState.allCases.filter { $0 != .listen })

    /// `struct nlmsghdr` of a request whose payload is `payload` bytes, room for that payload
    /// reserved: len, type, flags, seq, pid 0 (the kernel fills in ours).
    static func header(payload: Int, type: UInt16, flags: UInt16, sequence: UInt32) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(16 + payload)
        append32(&b, UInt32(16 + payload))
        append16(&b, type)
        append16(&b, flags)
        append32(&b, sequence)
        append32(&b, 0)
        return b
    }

    /// A dump request: `nlmsghdr` + `inet_diag_req_v2`, TCP of `family`, sockets in `states`,
    /// only local port `sourcePort` / remote port `destinationPort` when given (the kernel
    /// filters: `id.idiag_sport`, `id.idiag_dport`). `withInfo` asks for `struct tcp_info`
    /// (`idiag_ext |= 1 << (INET_DIAG_INFO - 1)`).
    public static func dumpRequest(family: UInt8, states: UInt32, sourcePort: UInt16?, sequence: UInt32,
                                   withInfo: Bool = false, destinationPort: UInt16? = nil) -> [UInt8] {
        var b = header(payload: 56, type: sockDiagByFamily, flags: flagRequest | flagDump, sequence: sequence)
        b += [family, ipprotoTCP, withInfo ? 1 << (inetDiagInfo - 1) : 0, 0]  // family, protocol, idiag_ext, pad
        append32(&b, states)                      // idiag_states
        let port = sourcePort ?? 0
        b += [UInt8(port >> 8), UInt8(port & 0xff)]  // idiag_sport, network order
        let dport = destinationPort ?? 0
        b += [UInt8(dport >> 8), UInt8(dport & 0xff)]  // idiag_dport
        b += [UInt8](repeating: 0, count: 44)     // src, dst, if, cookie
        return b
    }

    /// A dump request for TCP sockets of both families at once: `nlmsghdr` + the older
    /// `struct inet_diag_req` (60 bytes) under `TCPDIAG_GETSOCK`, which the kernel dumps with
    /// `sdiag_family = AF_UNSPEC` (`inet_diag_dump_compat` in net/ipv4/inet_diag.c). A
    /// SOCK_DIAG_BY_FAMILY dump takes one family, and each dump of non-listening states walks
    /// every bucket of the kernel's established-socket hash (262,144 here), whatever it holds:
    /// one request instead of two is one walk instead of two. The same filters as
    /// ``dumpRequest(family:states:sourcePort:sequence:withInfo:destinationPort:)``; replies
    /// are `inet_diag_msg`, each with its own family, under the request's type.
    public static func bothFamiliesDumpRequest(states: UInt32, sourcePort: UInt16?, sequence: UInt32,
                                               withInfo: Bool = false) -> [UInt8] {
        var b = header(payload: 60, type: tcpDiagGetSock, flags: flagRequest | flagDump, sequence: sequence)
        // idiag_family (a dump ignores it), idiag_src_len, idiag_dst_len, idiag_ext
        b += [afInet, 0, 0, withInfo ? 1 << (inetDiagInfo - 1) : 0]
        let port = sourcePort ?? 0
        b += [UInt8(port >> 8), UInt8(port & 0xff), 0, 0]  // idiag_sport (network order), idiag_dport
        b += [UInt8](repeating: 0, count: 44)     // src, dst, if, cookie
        append32(&b, states)                      // idiag_states
        append32(&b, 0)                           // idiag_dbs
        return b
    }

    static let sockDestroy: UInt16 = 21, flagAck: UInt16 = 0x4

    /// SOCK_DESTROY for one socket: `inet_diag_req_v2` carrying the dumped `id` (cookie included),
    /// so only that very socket can match (`ss -K`).
    public static func destroyRequest(_ s: DiagSocket, sequence: UInt32) -> [UInt8] {
        var b = header(payload: 56, type: sockDestroy, flags: flagRequest | flagAck, sequence: sequence)
        b += [s.family, ipprotoTCP, 0, 0]
        append32(&b, states(TCPState.allCases))
        b += s.id
        return b
    }

    /// Reads the acknowledgement of a request sent with NLM_F_ACK: nil for success, else the errno.
    public static func ackErrno(_ bytes: [UInt8]) throws(ReplyError) -> Int32? {
        var code: Int32?
        try NetlinkMessages.forEach(in: bytes) { (m: NetlinkMessages.Message) throws(ReplyError) -> Bool in
            if m.type == NetlinkMessages.nlmsgError { code = try NetlinkMessages.errorCode(bytes, m) }
            return false
        }
        guard let code else { throw .malformed("no NLMSG_ERROR acknowledgement") }
        return code == 0 ? nil : code
    }

    /// A reply that is not a socket list.
    public enum ReplyError: Error, Equatable, Sendable {
        /// `NLMSG_ERROR` with this errno (positive).
        case kernel(errno: Int32)
        case malformed(String)
    }

    /// A socket from a dump, with the kernel's own `inet_diag_sockid` (4-tuple, interface and
    /// cookie): the exact identity SOCK_DESTROY wants back.
    public struct DiagSocket: Sendable, Equatable {
        public var entry: TCPSocketEntry
        public var family: UInt8
        public var id: [UInt8]  // 48 bytes
    }

    /// Parses one datagram of a dump reply. `done` is true once `NLMSG_DONE` was seen.
    public static func parse(_ bytes: [UInt8]) throws(ReplyError) -> (entries: [TCPSocketEntry], done: Bool) {
        var entries: [TCPSocketEntry] = []
        let done = try parse(bytes, into: &entries)
        return (entries, done)
    }

    /// ``parse(_:)`` appending to `entries` (a dump's datagrams into one array: thousands of
    /// sockets, each array copy of them is new pages); returns `done`. Not through
    /// ``parseSockets(_:)``: a copy of each socket's id (a heap array) for nothing.
    public static func parse(_ bytes: [UInt8], into entries: inout [TCPSocketEntry]) throws(ReplyError) -> Bool {
        try NetlinkMessages.dump(bytes) { (payload: Range<Int>, at: Int) throws(ReplyError) in
            guard let e = message(bytes, at: payload.lowerBound, length: payload.count) else {
                throw .malformed("inet_diag_msg at \(at)")
            }
            entries.append(e)
        }
    }

    /// ``parse(_:)`` keeping each socket's `inet_diag_sockid`.
    public static func parseSockets(_ bytes: [UInt8]) throws(ReplyError) -> (sockets: [DiagSocket], done: Bool) {
        var entries: [DiagSocket] = []
        let done = try NetlinkMessages.dump(bytes) { (payload: Range<Int>, at: Int) throws(ReplyError) in
            guard let e = message(bytes, at: payload.lowerBound, length: payload.count) else {
                throw .malformed("inet_diag_msg at \(at)")
            }
            entries.append(DiagSocket(entry: e, family: bytes[payload.lowerBound], id: Array(bytes[(payload.lowerBound + 4)..<(payload.lowerBound + 52)])))
        }
        return (entries, done)
    }

    /// `struct inet_diag_msg` (72 bytes) as a socket-table row.
    static func message(_ b: [UInt8], at o: Int, length: Int) -> TCPSocketEntry? {
        guard length >= 72, let state = TCPState(rawValue: b[o + 1]) else { return nil }
        let family = b[o]
        let sport = UInt16(b[o + 4]) << 8 | UInt16(b[o + 5])
        let dport = UInt16(b[o + 6]) << 8 | UInt16(b[o + 7])
        func addr(_ at: Int) -> IPAddress? {
            switch family {
            case afInet: return .v4(b[at], b[at + 1], b[at + 2], b[at + 3])
            case afInet6: return .v6(IPv6Bytes(b[at..<(at + 16)]))
            default: return nil
            }
        }
        guard let src = addr(o + 8), let dst = addr(o + 24) else { return nil }
        let rqueue = read32(b, o + 56), wqueue = read32(b, o + 60)
        var health: TCPHealth?
        NetlinkMessages.forEachAttribute(in: b, (o + 72)..<(o + length)) { type, payload in
            if type == UInt16(inetDiagInfo) {
                health = b.withUnsafeBytes { TCPHealth(tcpInfo: UnsafeRawBufferPointer(rebasing: $0[payload])) }
            }
        }
        return TCPSocketEntry(
            family: family == afInet ? .tcp4 : .tcp6,
            local: SocketAddress(ip: src, port: sport), peer: SocketAddress(ip: dst, port: dport), state: state,
            // For listeners the kernel puts the backlog limit in wqueue; /proc/net/tcp shows 0.
            sendQueue: state == .listen ? 0 : wqueue, recvQueue: rqueue,
            uid: read32(b, o + 64), inode: UInt64(read32(b, o + 68)), health: health,
            // inet_diag_sockid.idiag_cookie: two u32 after sport, dport, src, dst and if.
            cookie: UInt64(read32(b, o + 44)) | UInt64(read32(b, o + 48)) << 32)
    }

    static func append16(_ b: inout [UInt8], _ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    static func append32(_ b: inout [UInt8], _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    // Netlink headers and inet_diag_msg's u32 fields are in host order; this tool runs on
    // little-endian Linux (x86_64, arm64).
    static func read16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func read32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
}
