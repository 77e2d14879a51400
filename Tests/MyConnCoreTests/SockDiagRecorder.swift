#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import ProcFS
import Testing
@testable import MyConnCore

/// Not a test: the recorder that `Fixtures/mariadb-10.11-proc-tree/record.sh` runs (as root,
/// `MYCONN_RECORD_SOCK_DIAG="PID PORT FILE"`) to keep, at the moment it copies /proc, the
/// sock_diag conversation of `list`'s kernel read of mysqld PID on PORT, without a SQL session.
@Suite("sock_diag recorder for fixtures (runs only when MYCONN_RECORD_SOCK_DIAG is set)")
struct SockDiagRecorder {
    static let request = ProcessInfo.processInfo.environment["MYCONN_RECORD_SOCK_DIAG"]

    @Test("records the kernel read's requests and replies", .enabled(if: request != nil, "a fixture recording, asked for"))
    func record() throws {
        let f = try #require(Self.request?.split(separator: " "))
        let (pid, port, path) = (try #require(Int32(f[0])), try #require(UInt16(f[1])), String(f[2]))
        let recording = SockDiagRecording()
        let kernel = try KernelSnapshot.read(pid: pid, proc: ProcReader(), source: .netlink, serverPort: port, recording: recording)
        #expect(kernel.tcpSource == .netlink, "\(kernel.fallbackReason ?? "")")
        try Data(recording.bytes).write(to: URL(fileURLWithPath: path))
    }
}
