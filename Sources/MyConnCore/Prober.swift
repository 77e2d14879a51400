#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS
import SystemPackage

/// `myconn probe`: lets the kernel itself find out whether a session's client is still there.
///
/// Each target socket is duplicated out of mysqld with `pidfd_getfd` and verified (same inode,
/// same peer address, TCP, established); from then on every step acts on that one socket
/// object, which no fd reuse can swap. Its liveness options are saved, then turned up:
/// keepalive after 1 s idle, every 1 s, 3 probes; and, when sent data is already waiting for
/// an acknowledgement (keepalive does not run then), `TCP_USER_TIMEOUT`.
///
/// A socket whose peer's receive window is closed (nothing unacknowledged, data unsent) is
/// only watched: keepalive does not run then either, and `TCP_USER_TIMEOUT` would also drop a
/// live client that merely stopped reading (the kernel counts the time since the window closed,
/// not since a probe went unanswered: "tcp: fix TCP_USER_TIMEOUT with zero window", Linux 5.11).
/// Verdicts:
/// - alive: an ACK arrived after the probe began. A socket that had an ACK in the last second
///   (a client at work) is first only watched for one second: most such get their verdict
///   without being touched. An ACK from before the probe proves nothing: the link may have
///   died since. Changed options are written back the moment the verdict is in.
/// - dead: the kernel dropped the connection (state CLOSE); mysqld sees the error on its next
///   read or write and ends the session normally. Nothing else is done to it.
/// - no verdict: neither within the timeout; the options are written back.
/// SO_ERROR is never read: the pending error belongs to mysqld.
public struct Prober {
    public var timeoutSeconds: Double
    public var dryRun: Bool
    public var audit: AuditLog?
    /// A socket with an ACK younger than this at the start is watched this long before its
    /// options are changed.
    public var quietMilliseconds: UInt32 = 1000

    public init(timeoutSeconds: Double, dryRun: Bool, audit: AuditLog?) {
        self.timeoutSeconds = timeoutSeconds
        self.dryRun = dryRun
        self.audit = audit
    }

    public enum Verdict: Error, Sendable, Equatable {
        case alive(String)
        case dead(String)
        case noVerdict(String)
        /// Not probed (nothing changed): the reason.
        case refused(String)
        case failed(String)
        case dryRun

        public var name: String {
            switch self {
            case .alive: return "alive"
            case .dead: return "dead"
            case .noVerdict: return "no-verdict"
            case .refused: return "refused"
            case .failed: return "failed"
            case .dryRun: return "dry-run"
            }
        }

        public var message: String? {
            switch self {
            case .alive(let m), .dead(let m), .noVerdict(let m), .refused(let m), .failed(let m): return m
            case .dryRun: return nil
            }
        }
    }

    public struct Outcome: Sendable, Equatable {
        public var target: CloseTarget
        public var verdict: Verdict
        /// The options found on the socket, and whether they were written back (nil: not changed).
        public var saved: KeepaliveOptions?
        public var restored: Bool?
        /// Seconds from the start of the probe to the verdict.
        public var seconds: Double?
        /// Where SQL is available: whether the session left the processlist after a dead verdict.
        public var sessionGone: Bool?
    }

    /// One socket under probe.
    struct Live {
        var index: Int
        var fd: Int32
        var saved: KeepaliveOptions
        var started: Double
        var mode: Mode
        var info: TCPHealth

        enum Mode {
            /// Recently active: watched, unchanged, until this many seconds into the probe.
            case watching(until: Double)
            /// Its options are the probe's.
            case probing
            /// The peer's receive window is closed: only watched, never changed.
            case windowClosed
        }

        var changed: Bool { if case .probing = mode { return true } else { return false } }
    }

    /// - Parameters:
    ///   - targets: a socket named twice is probed once (a second duplicate would save the
    ///     probe's own options as the ones to restore).
    ///   - presentSessions: which of these session ids still exist (nil: SQL unavailable).
    public func run(_ targets: [CloseTarget], waitSeconds: Double,
                    presentSessions: (([UInt64]) -> Set<UInt64>?)?) -> [Outcome] {
        var seen = Set<SocketKey>()
        let targets = targets.filter { seen.insert(SocketKey(pid: $0.pid, inode: $0.inode)).inserted }
        // Ctrl-C or a TERM in the middle must not leave a live client's socket with our options:
        // they are held until every socket has its own options back, then delivered.
        var block = sigset_t(), old = sigset_t()
        sigemptyset(&block)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&block, s) }
        pthread_sigmask(SIG_BLOCK, &block, &old)
        var unblocked = false
        func unblock() { if !unblocked { pthread_sigmask(SIG_SETMASK, &old, nil); unblocked = true } }
        defer { unblock() }

        var outcomes = targets.map { Outcome(target: $0, verdict: .dryRun) }
        var live: [Live] = []
        var pidfds: [Int32: Pidfd] = [:]
        for (i, t) in targets.enumerated() {
            let pidfd: Pidfd
            if let p = pidfds[t.pid] {
                pidfd = p
            } else {
                do {
                    pidfd = try Pidfd(pid: t.pid)
                } catch {
                    outcomes[i].verdict = .failed("pidfd_open(\(t.pid)): \(error)")
                    continue
                }
                pidfds[t.pid] = pidfd
            }
            switch start(t, pidfd: pidfd) {
            case .failure(let v):
                outcomes[i].verdict = v
            case .success(let (fd, saved, info)):
                outcomes[i].saved = saved
                if dryRun {
                    close(fd)
                    continue
                }
                let windowClosed = info.unacked == 0 && ((try? TCPHealth.unsentBytes(fd: fd)) ?? 0) > 0
                let mode: Live.Mode = windowClosed ? .windowClosed
                    : info.lastAckReceivedMilliseconds < quietMilliseconds ? .watching(until: Double(quietMilliseconds) / 1000)
                    : .probing
                var l = Live(index: i, fd: fd, saved: saved, started: now(), mode: mode, info: info)
                if case .probing = mode, !turnUp(&l, &outcomes) {
                    close(fd)
                    continue
                }
                live.append(l)
            }
        }
        watch(&live, &outcomes)
        unblock()  // every socket has its options back: a signal may end myconn now
        if let presentSessions { waitForSessions(&outcomes, waitSeconds: waitSeconds, presentSessions: presentSessions) }
        for o in outcomes { record(o) }
        return outcomes
    }

    /// Duplicates and verifies the target; the duplicate, its options and tcp_info.
    func start(_ t: CloseTarget, pidfd: Pidfd) -> Result<(Int32, KeepaliveOptions, TCPHealth), Verdict> {
        guard t.socket.transport != .unix else {
            return .failure(.refused("a unix socket: its peer is a process on this host, with no network between to probe"))
        }
        let fd: Int32
        do {
            fd = try pidfd.duplicate(t.fd)
        } catch {
            let hint = error == .notPermitted ? ": run as root or with CAP_SYS_PTRACE over mysqld" : ""
            return .failure(.refused("fd \(t.fd) could not be duplicated with pidfd_getfd (\(error))\(hint); nothing changed"))
        }
        func refuse(_ why: String) -> Result<(Int32, KeepaliveOptions, TCPHealth), Verdict> {
            close(fd)
            return .failure(.refused(why + "; nothing changed"))
        }
        guard let inode = try? inodeOf(fd: fd), inode == t.inode else {
            return refuse("fd \(t.fd) is no longer socket inode \(t.inode)")
        }
        guard case .inet(_, let peer)? = try? SocketEndpoints(fd: fd), peer.description == t.socket.peer else {
            return refuse("socket inode \(t.inode) no longer has peer \(t.socket.peer ?? "?")")
        }
        guard let info = try? TCPHealth.read(fd: fd) else { return refuse("tcp_info of inode \(t.inode) is not readable") }
        guard info.state == .established else {
            return refuse("the connection is \(info.state), not ESTABLISHED" + (info.state == .closeWait ? " (the client already closed its end: see zombies client-gone)" : ""))
        }
        guard let saved = try? KeepaliveOptions.read(fd: fd) else { return refuse("its keepalive options are not readable") }
        return .success((fd, saved, info))
    }

    /// Keepalive after 1 s idle, every 1 s, enough probes to outlast the timeout by one; a user
    /// timeout only when data is already unacknowledged (retransmitting: keepalive waits then).
    /// Never a user timeout on an idle socket: it would drop a live peer slower than 1 s.
    func aggressive(for info: TCPHealth) -> KeepaliveOptions {
        let seconds = max(5, Int32(timeoutSeconds.rounded(.down)))
        return KeepaliveOptions(keepalive: true, idleSeconds: 1, intervalSeconds: 1, count: 3,
                                userTimeoutMilliseconds: info.unacked > 0 ? (seconds - 1) * 1000 : 0)
    }

    /// Writes the probe's options; on failure puts the saved ones back and records it (the
    /// caller closes the duplicate).
    func turnUp(_ l: inout Live, _ outcomes: inout [Outcome]) -> Bool {
        do {
            try aggressive(for: l.info).write(fd: l.fd)
            l.mode = .probing
            return true
        } catch {
            outcomes[l.index].restored = (try? l.saved.write(fd: l.fd)) != nil
            outcomes[l.index].verdict = .failed("setting keepalive options: \(error)")
            return false
        }
    }

    func watch(_ live: inout [Live], _ outcomes: inout [Outcome]) {
        while !live.isEmpty {
            let t = now()
            var k = 0
            while k < live.count {
                if verdict(&live[k], elapsed: t - live[k].started, &outcomes) {
                    close(live[k].fd)
                    live.remove(at: k)
                } else {
                    k += 1
                }
            }
            if !live.isEmpty { usleep(20_000) }
        }
    }

    /// Looks at one socket; true when it is done with (verdict recorded, options back).
    func verdict(_ l: inout Live, elapsed: Double, _ outcomes: inout [Outcome]) -> Bool {
        let info = try? TCPHealth.read(fd: l.fd)
        if let info { l.info = info }
        var verdict: Verdict?
        if let info, info.state == .close {
            verdict = .dead("after \(format2(elapsed)) s the kernel dropped the connection (no answer to keepalive or retransmissions); mysqld ends the session on its next read")
        } else if let info, Double(info.lastAckReceivedMilliseconds) / 1000 < elapsed - 0.005 {
            verdict = .alive("the client acknowledged after \(format2(elapsed - Double(info.lastAckReceivedMilliseconds) / 1000)) s")
        } else if info == nil {
            verdict = .failed("tcp_info not readable any more")
        } else if case .watching(let until) = l.mode, elapsed >= until {
            // Quiet for a second: now probe it. A failure to is its verdict.
            return !turnUp(&l, &outcomes)
        } else if elapsed >= timeoutSeconds {
            verdict = .noVerdict(l.changed
                ? "no acknowledgement and not dropped within \(format2(timeoutSeconds)) s (the retransmission backoff outlasted it: probe again, or --timeout longer)"
                : "its receive window is closed (the client has not read for a while, \(info?.probes ?? 0) window probe(s) unanswered) and no ACK came within \(format2(timeoutSeconds)) s; nothing was changed: only TCP_USER_TIMEOUT could force a verdict, and it would also drop a live client that stopped reading (myconn close cuts it)")
        }
        guard let verdict else { return false }
        outcomes[l.index].verdict = verdict
        outcomes[l.index].seconds = elapsed
        if case .dead = verdict {
            outcomes[l.index].restored = nil
        } else if !l.changed {
            outcomes[l.index].restored = nil
            if case .alive(let m) = verdict { outcomes[l.index].verdict = .alive(m + "; nothing changed") }
        } else {
            outcomes[l.index].restored = (try? l.saved.write(fd: l.fd)) != nil
                && (try? KeepaliveOptions.read(fd: l.fd)) == l.saved
        }
        return true
    }

    func waitForSessions(_ outcomes: inout [Outcome], waitSeconds: Double, presentSessions: ([UInt64]) -> Set<UInt64>?) {
        let end = now() + waitSeconds
        while true {
            let ids = outcomes.compactMap { o -> UInt64? in
                if case .dead = o.verdict, o.sessionGone != true { return o.target.session?.id }
                return nil
            }
            guard !ids.isEmpty, let present = presentSessions(ids) else { return }
            for i in outcomes.indices { if let id = outcomes[i].target.session?.id, ids.contains(id) { outcomes[i].sessionGone = !present.contains(id) } }
            if outcomes.allSatisfy({ $0.sessionGone != false }) || now() >= end { return }
            usleep(20_000)
        }
    }

    func record(_ o: Outcome) {
        guard let audit else { return }
        let w = JSONWriter()
        w.object {
            w.field("time", AuditLog.timestamp())
            w.field("uid", Int64(getuid()))
            w.field("action", "probe")
            w.field("method", "keepalive")
            w.field("dry_run", dryRun)
            o.writeFields(to: w)
        }
        try? audit.append(w.text)
    }

    func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

struct SocketKey: Hashable {
    var pid: Int32
    var inode: UInt64
}

public func format2(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    let frac = hundredths % 100
    return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}

extension Prober.Outcome {
    /// The target and its verdict, as JSON fields: shared by the audit log and `--json`.
    public func writeFields(to w: JSONWriter) {
        target.writeFields(to: w, transport: false)
        w.field("verdict", verdict.name)
        w.field("message", verdict.message)
        w.field("elapsed_ms", seconds.map { Int64(($0 * 1000).rounded()) })
        w.field("options_restored", restored)
        w.field("session_gone", sessionGone)
    }
}
