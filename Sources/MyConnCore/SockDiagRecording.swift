import SockDiag
import Synchronization

/// The raw sock_diag replies of one `list`, kept when asked (the hidden
/// `--debug-dump-sock-diag FILE`): ``bytes`` is a stream of netlink messages that
/// `ReplayTransport` plays back in tests.
public final class SockDiagRecording: Sendable {
    private let recorded = Mutex<[UInt8]>([])

    public init() {}

    /// Every reply datagram kept so far, concatenated.
    public var bytes: [UInt8] { recorded.withLock { $0 } }

    /// Adds what `transport` has recorded.
    func keep(_ transport: RecordingTransport) {
        let stream = transport.stream
        recorded.withLock { $0 += stream }
    }
}
