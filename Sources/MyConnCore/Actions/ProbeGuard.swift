#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel

/// `probe` turns a socket's liveness options up inside mysqld (the socket object is shared):
/// a myconn killed before it writes them back (SIGKILL, the OOM killer) would leave keepalive
/// at 1 s and, on a socket with unacknowledged data, a TCP_USER_TIMEOUT that could later drop
/// a live client that stopped reading. So before the first option changes, a guardian process
/// (myconn's own executable, ``subcommand``, comm `myconn-guard`) is handed the same socket
/// objects (their duplicates as its descriptors 3, 4, ...) with their saved options, and waits
/// on a pipe. myconn dismisses it once every socket has its own options back; the pipe's end
/// without that word (myconn died, or gave up without writing them back) makes the guardian
/// check that each descriptor is still the socket it was given (inode) and write the saved
/// options back, then leave. Like the ptrace helper it runs in a process group of its own with
/// every signal blocked.
public enum ProbeGuard {
    public static let subcommand = "__probe-guard"

    public struct Socket: Sendable, Equatable {
        public var fd: Int32
        public var inode: UInt64
        public var saved: KeepaliveOptions
    }

    /// The guardian's argument for one socket: `INODE:KEEPALIVE:IDLE:INTERVAL:COUNT:USER_TIMEOUT_MS`.
    static func encode(_ s: Socket) -> String {
        let o = s.saved
        return "\(s.inode):\(o.keepalive ? 1 : 0):\(o.idleSeconds):\(o.intervalSeconds):\(o.count):\(o.userTimeoutMilliseconds)"
    }

    static func decode(_ a: String) -> (inode: UInt64, saved: KeepaliveOptions)? {
        let f = a.split(separator: ":", omittingEmptySubsequences: false)
        guard f.count == 6, let inode = UInt64(f[0]), f[1] == "0" || f[1] == "1",
              let idle = Int32(f[2]), let interval = Int32(f[3]), let count = Int32(f[4]), let uto = Int32(f[5]) else { return nil }
        return (inode, KeepaliveOptions(keepalive: f[1] == "1", idleSeconds: idle, intervalSeconds: interval, count: count,
                                        userTimeoutMilliseconds: uto))
    }

    /// Starts the guardian over `sockets`.
    static func start(_ sockets: [Socket]) throws(MethodUnavailable) -> Guardian {
        do {
            return try Guardian.start("/proc/self/exe", ["myconn", subcommand] + sockets.map(encode), passing: sockets.map(\.fd))
        } catch {
            throw .pidfd("cannot start the probe's guardian (/proc/self/exe): \(error)")
        }
    }

    /// The guardian's whole run, from myconn's `main` before anything else. Returns its exit status.
    public static func main(_ arguments: [String]) -> Int32 {
        HelperProcess.writeOwn("comm", "myconn-guard")
        let given = arguments.dropFirst().map(decode)
        guard arguments.first == subcommand, given.allSatisfy({ $0 != nil }) else { return 64 }
        // Until the pipe's end: the word "done" means nothing is left to undo.
        var heard: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n > 0 { heard += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        if String(decoding: heard, as: UTF8.self) == "done\n" { return 0 }
        for (i, g) in given.enumerated() {
            guard let g else { continue }
            let fd = Int32(3 + i)
            // Still the socket it was given: the same object, held since the start.
            guard (try? inodeOf(fd: fd)) == g.inode else { continue }
            try? g.saved.write(fd: fd)
        }
        return 0
    }
}
