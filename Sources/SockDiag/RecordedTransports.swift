#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SystemPackage

/// A transport that passes everything to another one and keeps every reply datagram: the
/// hidden `list --debug-dump-sock-diag FILE` writes ``stream``, which ``ReplayTransport`` plays back.
public final class RecordingTransport: SockDiagTransport {
    public let inner: any SockDiagTransport
    public private(set) var replies: [[UInt8]] = []

    public init(_ inner: any SockDiagTransport) {
        self.inner = inner
    }

    public func send(_ request: [UInt8]) throws(Errno) {
        try inner.send(request)
    }

    public func receive() throws(Errno) -> [UInt8] {
        let datagram = try inner.receive()
        replies.append(datagram)
        return datagram
    }

    /// Every reply datagram, concatenated: a valid stream of netlink messages.
    public var stream: [UInt8] { replies.flatMap { $0 } }
}

/// Recorded replies played back to a ``SockDiagClient`` (tests on a live server's answers, no
/// root): each receive returns the next answer of the stream, its messages up to and including
/// the `NLMSG_DONE` or `NLMSG_ERROR` that ends it. Requests are kept for the caller to check,
/// not matched: the stream must hold the answers in the order the client asks.
public final class ReplayTransport: SockDiagTransport {
    public private(set) var requests: [[UInt8]] = []
    private let answers: [[UInt8]]
    private var next = 0

    /// - Throws: ``InetDiag/ReplyError/malformed(_:)`` when the stream is not netlink messages.
    public init(stream: [UInt8]) throws(InetDiag.ReplyError) {
        var answers: [[UInt8]] = []
        var start = 0
        try NetlinkMessages.forEach(in: stream) { (m: NetlinkMessages.Message) -> Bool in
            if m.type == NetlinkMessages.nlmsgDone || m.type == NetlinkMessages.nlmsgError {
                let end = min(stream.count, (m.payload.upperBound + 3) & ~3)
                answers.append(Array(stream[start..<end]))
                start = end
            }
            return true
        }
        if start < stream.count { answers.append(Array(stream[start...])) }
        self.answers = answers
    }

    /// Answers not yet received.
    public var remaining: Int { answers.count - next }

    public func send(_ request: [UInt8]) throws(Errno) {
        requests.append(request)
    }

    /// - Throws: `Errno` ENOMSG once every recorded answer has been received.
    public func receive() throws(Errno) -> [UInt8] {
        guard next < answers.count else { throw Errno(rawValue: ENOMSG) }
        next += 1
        return answers[next - 1]
    }
}
