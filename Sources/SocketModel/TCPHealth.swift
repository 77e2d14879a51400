/// The fields of the kernel's `struct tcp_info` (`linux/tcp.h`) myconn reads: a connection's
/// state and liveness. sock_diag's INET_DIAG_INFO attribute and `getsockopt(TCP_INFO)` carry
/// the same struct; both are parsed by ``init(tcpInfo:)``.
public struct TCPHealth: Hashable, Sendable {
    /// `tcpi_state`: CLOSE once the kernel dropped the connection, CLOSE_WAIT once the peer closed.
    public var state: TCPState
    /// Smoothed round-trip time, microseconds.
    public var rttMicroseconds: UInt32
    /// Retransmission timeouts in a row (`tcpi_retransmits`).
    public var retransmits: UInt8
    /// Keepalive or zero-window probes sent without an answer (`tcpi_probes`).
    public var probes: UInt8
    /// Segments sent and not yet acknowledged (`tcpi_unacked`).
    public var unacked: UInt32
    /// Milliseconds since data was last received / sent.
    public var lastReceiveMilliseconds: UInt32
    public var lastSendMilliseconds: UInt32
    /// Milliseconds since an ACK last arrived (`tcpi_last_ack_recv`).
    public var lastAckReceivedMilliseconds: UInt32
    /// Segments retransmitted over the connection's life (`tcpi_total_retrans`); 0 where the
    /// kernel's struct is too short to carry it.
    public var totalRetransmits: UInt32 = 0

    /// Fields not given are 0, the state ESTABLISHED.
    public init(state: TCPState = .established, rttMicroseconds: UInt32 = 0, retransmits: UInt8 = 0, probes: UInt8 = 0,
                unacked: UInt32 = 0, lastReceiveMilliseconds: UInt32 = 0, lastSendMilliseconds: UInt32 = 0,
                lastAckReceivedMilliseconds: UInt32 = 0) {
        self.state = state
        self.rttMicroseconds = rttMicroseconds
        self.retransmits = retransmits
        self.probes = probes
        self.unacked = unacked
        self.lastReceiveMilliseconds = lastReceiveMilliseconds
        self.lastSendMilliseconds = lastSendMilliseconds
        self.lastAckReceivedMilliseconds = lastAckReceivedMilliseconds
    }

    /// The bytes of `struct tcp_info` that reach `tcpi_rtt`.
    public static let minimumLength = 72

    /// Parses `struct tcp_info` by offset, in host byte order. Read by its length: an older
    /// kernel's shorter struct is fine as long as it reaches `tcpi_rtt`; nil when it does not,
    /// or when the state is not one ``TCPState`` knows.
    public init?(tcpInfo bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.minimumLength, let state = TCPState(rawValue: bytes[0]) else { return nil }
        func u32(_ o: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        self.init(state: state, rttMicroseconds: u32(68), retransmits: bytes[2], probes: bytes[3], unacked: u32(24),
                  lastReceiveMilliseconds: u32(52), lastSendMilliseconds: u32(44), lastAckReceivedMilliseconds: u32(56))
        if bytes.count >= 104 { totalRetransmits = u32(100) }
    }
}
