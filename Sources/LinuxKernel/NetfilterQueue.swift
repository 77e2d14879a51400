#if canImport(Glibc)
@preconcurrency import Glibc
#endif
@preconcurrency import CNetfilterQueue
import SystemPackage

/// One NFQUEUE queue served from this process (`libnetfilter_queue`): packets the kernel hands
/// over are held until ``accept(_:)`` lets each one go on. Open it inside the network namespace
/// whose packets it serves (``NetworkNamespace/run(in:_:)``); it is used from one thread after.
/// Closing it (deinit) hands the kernel back every packet not yet let go (the rule's
/// `--queue-bypass` then lets new ones pass while no one serves the queue).
public final class NetfilterQueue {
    // From the kernel's uapi: linux/netfilter.h NF_ACCEPT, linux/netfilter/nfnetlink_queue.h
    // NFQNL_COPY_META and NFQA_CFG_F_FAIL_OPEN.
    static let accept: UInt32 = 1
    static let copyMeta: UInt8 = 1
    static let failOpen: UInt32 = 1 << 0

    private let handle: OpaquePointer
    private var queue: OpaquePointer?
    /// Packet ids the callback collected during the last ``receive(timeoutMilliseconds:)``.
    private var arrived: [UInt32] = []
    public let number: UInt16

    /// Binds queue `number` (EBUSY-like failure when another process serves it).
    public init(number: UInt16) throws(Errno) {
        guard let h = nfq_open() else { throw Errno(rawValue: errno) }
        handle = h
        self.number = number
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let q = nfq_create_queue(h, number, { _, _, nfad, data in
            guard let nfad, let data, let header = nfq_get_msg_packet_hdr(nfad) else { return 0 }
            // struct nfqnl_msg_packet_hdr is packed: its first field, the id, read as bytes.
            let id = UnsafeRawPointer(header).loadUnaligned(as: UInt32.self).bigEndian
            Unmanaged<NetfilterQueue>.fromOpaque(data).takeUnretainedValue().arrived.append(id)
            return 0
        }, context) else {
            // Every stored property is set, so throwing runs deinit, which closes the handle: a
            // second nfq_close here was a double free, hit whenever a queue number was already
            // bound (a second delay of this process tries 41000 first).
            throw Errno(rawValue: errno == 0 ? EBUSY : errno)
        }
        queue = q
        _ = nfq_set_mode(q, Self.copyMeta, 0)
        _ = nfq_set_queue_maxlen(q, 65536)
        // Past the queue's length the kernel accepts rather than drops: a delay never loses one.
        _ = nfq_set_queue_flags(q, Self.failOpen, Self.failOpen)
    }

    deinit {
        if let queue { nfq_destroy_queue(queue) }
        nfq_close(handle)
    }

    /// Waits up to `timeoutMilliseconds` for packets; returns the ids of those that arrived.
    public func receive(timeoutMilliseconds: Int32) -> [UInt32] {
        var p = pollfd(fd: nfq_fd(handle), events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMilliseconds) > 0 else { return [] }
        var buf = [CChar](repeating: 0, count: 65536)
        arrived.removeAll(keepingCapacity: true)
        while true {
            let n = recv(p.fd, &buf, buf.count, Int32(MSG_DONTWAIT))
            guard n > 0 else { break }
            _ = nfq_handle_packet(handle, &buf, Int32(n))
        }
        return arrived
    }

    /// Lets packet `id` go on (NF_ACCEPT).
    public func accept(_ id: UInt32) {
        guard let queue else { return }
        _ = nfq_set_verdict(queue, id, Self.accept, 0, nil)
    }
}

/// Runs a program (found on PATH) with `arguments`, its standard streams on /dev/null, and
/// waits for it. It inherits the calling thread's network namespace.
/// - Returns: its exit status, or -1 when it could not be started or was killed.
public func runProgram(_ arguments: [String]) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    guard posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}
