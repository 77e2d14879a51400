import SockDiag
import Synchronization

/// The raw sock_diag conversation of one `list`, kept when asked (the hidden
/// `--debug-dump-sock-diag FILE`): ``bytes`` is a stream of netlink messages, each request
/// (`NLM_F_REQUEST`) followed by the replies to it, that `ReplayTransport` answers by request.
public final class SockDiagRecording: Sendable {
    private let recorded = Mutex<[UInt8]>([])

    public init() {}

    /// Every request and reply datagram kept so far, concatenated.
    public var bytes: [UInt8] { recorded.withLock { $0 } }

    /// Adds what `transport` has recorded.
    func keep(_ transport: RecordingTransport) {
        let conversation = transport.conversation
        recorded.withLock { $0 += conversation }
    }
}
