#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SystemPackage

/// A transport that passes everything to another one and keeps what crossed it: ``stream``, the
/// reply datagrams alone, and ``conversation``, each request followed by its replies, which the
/// hidden `list --debug-dump-sock-diag FILE` writes and ``ReplayTransport`` answers by request.
public final class RecordingTransport: SockDiagTransport {
    public let inner: any SockDiagTransport
    public private(set) var replies: [[UInt8]] = []
    /// Requests and reply datagrams in the order they crossed, each padded to 4 bytes.
    public private(set) var conversation: [UInt8] = []

    public init(_ inner: any SockDiagTransport) {
        self.inner = inner
    }

    public func send(_ request: [UInt8]) throws(Errno) {
        try inner.send(request)
        conversation += request + [UInt8](repeating: 0, count: (4 - request.count % 4) % 4)
    }

    public func receive() throws(Errno) -> [UInt8] {
        let datagram = try inner.receive()
        replies.append(datagram)
        conversation += datagram
        return datagram
    }

    /// Every reply datagram, concatenated: a valid stream of netlink messages.
    public var stream: [UInt8] { replies.flatMap { $0 } }
}

/// Recorded replies played back to a ``SockDiagClient`` (tests on a live server's answers, no
/// root). An answer is a run of messages up to and including the `NLMSG_DONE` or `NLMSG_ERROR`
/// that ends it. In a ``RecordingTransport/conversation`` each answer follows the request that
/// produced it (a message with `NLM_F_REQUEST`, which no kernel reply has): a request is then
/// answered by the first unused answer to an equal request (same bytes but `nlmsg_seq` and
/// `nlmsg_pid`: family, protocol, states, ports, extensions), so a recording of one order of
/// dumps replays for another. A stream of replies alone is answered in order, whatever is asked.
/// One conversation at a time, as on a netlink socket.
public final class ReplayTransport: SockDiagTransport {
    public private(set) var requests: [[UInt8]] = []
    /// Each recorded answer with the key of its request (nil: replies alone, answered in order).
    private let answers: [(request: [UInt8]?, answer: [UInt8])]
    private var used: [Bool]
    private var current: Int?
    private var refusal: [UInt8]?
    private let byRequest: Bool

    /// - Throws: ``InetDiag/ReplyError/malformed(_:)`` when the stream is not netlink messages.
    public init(stream: [UInt8]) throws(InetDiag.ReplyError) {
        var answers: [(request: [UInt8]?, answer: [UInt8])] = []
        var request: [UInt8]?
        var start = 0
        try NetlinkMessages.forEach(in: stream) { (m: NetlinkMessages.Message) -> Bool in
            let end = min(stream.count, (m.payload.upperBound + 3) & ~3)
            if InetDiag.read16(stream, m.offset + 6) & InetDiag.flagRequest != 0 {
                request = Self.key(Array(stream[m.offset..<m.payload.upperBound]))
                start = end
            } else if m.type == NetlinkMessages.nlmsgDone || m.type == NetlinkMessages.nlmsgError {
                answers.append((request, Array(stream[start..<end])))
                request = nil
                start = end
            }
            return true
        }
        if start < stream.count { answers.append((request, Array(stream[start...]))) }
        self.answers = answers
        used = Array(repeating: false, count: answers.count)
        byRequest = answers.contains { $0.request != nil }
    }

    /// A request without what differs between runs: its sequence number and port id.
    static func key(_ request: [UInt8]) -> [UInt8] {
        var k = request
        for i in 8..<min(16, k.count) { k[i] = 0 }
        return k
    }

    /// Answers not yet received.
    public var remaining: Int { used.count { !$0 } }

    public func send(_ request: [UInt8]) throws(Errno) {
        requests.append(request)
        refusal = nil
        guard byRequest else { return }
        let k = Self.key(request)
        current = answers.indices.first { !used[$0] && answers[$0].request == k }
        // A kind of request the recording never made (say, the both-families dump, replayed
        // from a recording older than it) is answered as by a kernel without its handler:
        // sock_diag_rcv_msg answers EOPNOTSUPP when no inet_diag handles TCPDIAG_GETSOCK.
        if current == nil, request.count >= 16,
           !answers.contains(where: { $0.request.map { Array($0[4..<6]) == Array(request[4..<6]) } ?? false }) {
            refusal = Self.error(EOPNOTSUPP, to: request)
        }
    }

    /// `NLMSG_ERROR` with `-code`, echoing the request's header, as the kernel answers.
    static func error(_ code: Int32, to request: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        InetDiag.append32(&b, 16 + 4 + 16)
        InetDiag.append16(&b, NetlinkMessages.nlmsgError)
        InetDiag.append16(&b, 0)
        b += request[8..<12]  // the request's nlmsg_seq
        InetDiag.append32(&b, 0)
        InetDiag.append32(&b, UInt32(bitPattern: -code))
        return b + request[0..<16]
    }

    /// - Throws: `Errno` ENOMSG when nothing recorded answers the last request (or, for replies
    ///   alone, once every recorded answer has been received). A request of a type the
    ///   recording holds none of is answered `NLMSG_ERROR` EOPNOTSUPP instead, as a kernel
    ///   without the handler of that type answers.
    public func receive() throws(Errno) -> [UInt8] {
        if let refusal {
            self.refusal = nil
            return refusal
        }
        guard let i = byRequest ? current : used.firstIndex(of: false) else { throw Errno(rawValue: ENOMSG) }
        used[i] = true
        current = nil
        return answers[i].answer
    }
}
