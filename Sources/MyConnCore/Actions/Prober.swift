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
public struct Prober: ActionMethod {
    public var timeoutSeconds: Double
    /// A socket with an ACK younger than this at the start is watched this long before its
    /// options are changed.
    public var quietMilliseconds: UInt32 = 1000

    public init(timeoutSeconds: Double) {
        self.timeoutSeconds = timeoutSeconds
    }

    /// What the kernel said of a client.
    public enum Verdict: Sendable, Equatable {
        case alive(String)
        case dead(String)
        case noVerdict(String)

        public var name: String {
            switch self {
            case .alive: return "alive"
            case .dead: return "dead"
            case .noVerdict: return "no-verdict"
            }
        }

        public var message: String {
            switch self {
            case .alive(let m), .dead(let m), .noVerdict(let m): return m
            }
        }
    }

    /// A probe's own part of one target's outcome.
    public struct Detail: Sendable, Equatable {
        /// nil when not probed (refused, failed, dry run, interrupted).
        public var verdict: Verdict?
        /// The options found on the socket, and whether they were written back (nil: not changed).
        public var saved: KeepaliveOptions?
        public var restored: Bool?
        /// Seconds from the start of the probe to the verdict.
        public var seconds: Double?
    }

    public var action: String { "probe" }
    public var method: String { "keepalive" }
    public var noDetail: Detail { Detail() }
    public var recordsTransport: Bool { false }

    public func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) {}

    public func goal(after step: ActionStep<Detail>, target: ActionTarget) -> WaitGoal {
        if case .dead? = step.detail.verdict { return .sessionGone }
        return []
    }

    public func writeFields(of o: ActionOutcome<Detail>, to w: JSONWriter) {
        w.field("verdict", o.detail.verdict?.name ?? o.result.name)
        w.field("message", o.detail.verdict?.message ?? o.result.message)
        w.field("elapsed_ms", o.detail.seconds.map { Int64(($0 * 1000).rounded()) })
        w.field("options_restored", o.detail.restored)
        w.field("session_gone", o.sessionGone)
    }

    /// One socket under probe.
    struct Live {
        var index: Int
        var socket: OwnedDescriptor
        var saved: KeepaliveOptions
        var started: Double
        var mode: Mode
        var info: TCPHealth

        var fd: Int32 { socket.fd }

        enum Mode {
            /// Recently active: watched, unchanged, until this many seconds into the probe.
            case watching(until: Double)
            /// Its options are the probe's.
            case probing
            /// The peer's receive window is closed: only watched, never changed.
            case windowClosed

            var isProbing: Bool { if case .probing = self { return true } else { return false } }
        }

        var changed: Bool { mode.isProbing }
    }

    typealias Steps = [ActionStep<Detail>]

    /// Probes every target at once. A signal taken meanwhile (the pipeline holds them) ends the
    /// probe: every changed socket gets its own options back first, then its step says so.
    public func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<Detail>] {
        var steps = targets.map { _ in ActionStep(.dryRun, Detail()) }
        var live: [Live] = []
        var pidfds: [Int32: Pidfd] = [:]
        for (i, t) in targets.enumerated() {
            guard let ref = t.socket else {
                steps[i].result = .refused("no socket to probe")
                continue
            }
            let pidfd: Pidfd
            if let p = pidfds[ref.pid] {
                pidfd = p
            } else {
                do {
                    pidfd = try Pidfd(pid: ref.pid)
                } catch {
                    steps[i].result = .failed("pidfd_open(\(ref.pid)): \(error)")
                    continue
                }
                pidfds[ref.pid] = pidfd
            }
            switch start(ref, pidfd: pidfd) {
            case .failure(let why):
                steps[i].result = why
            case .success(let (socket, saved, info)):
                steps[i].detail.saved = saved
                let windowClosed = info.unacked == 0 && ((try? TCPHealth.unsentBytes(fd: socket.fd)) ?? 0) > 0
                let mode: Live.Mode = windowClosed ? .windowClosed
                    : info.lastAckReceivedMilliseconds < quietMilliseconds ? .watching(until: Double(quietMilliseconds) / 1000)
                    : .probing
                // To be probed at once: turned up by the first look, once the guardian stands by.
                live.append(Live(index: i, socket: socket, saved: saved, started: Deadline.now(),
                                 mode: mode.isProbing ? .watching(until: 0) : mode, info: info))
            }
        }
        guard !live.isEmpty else { return steps }
        let guardian = try ProbeGuard.start(live.map { ProbeGuard.Socket(fd: $0.fd, inode: targets[$0.index].socket!.inode, saved: $0.saved) })
        watch(&live, &steps, signals: context.signals)
        // Every changed socket has its options back: nothing for the guardian to do. Else it
        // tries again, on the sockets it holds.
        guardian.end(undo: steps.contains { $0.detail.restored == false })
        return steps
    }

    /// A dry run's check: everything a probe checks before it changes anything (the duplicate,
    /// its inode, its peer, ESTABLISHED, readable options), the duplicate then let go.
    public func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?] {
        var pidfds: [Int32: Pidfd] = [:]
        return targets.map { t in
            guard let ref = t.socket else { return .refused("no socket to probe") }
            if pidfds[ref.pid] == nil { pidfds[ref.pid] = try? Pidfd(pid: ref.pid) }
            guard let pidfd = pidfds[ref.pid] else { return .failed("pidfd_open(\(ref.pid)) failed") }
            if case .failure(let why) = start(ref, pidfd: pidfd) { return why }
            return nil
        }
    }

    /// Duplicates and verifies the target: the duplicate, its options and tcp_info.
    func start(_ t: SocketRef, pidfd: Pidfd) -> Result<(OwnedDescriptor, KeepaliveOptions, TCPHealth), ActionResult> {
        guard t.transport != .unix else {
            return .failure(.refused("a unix socket: its peer is a process on this host, with no network between to probe"))
        }
        let socket: OwnedDescriptor
        do {
            socket = try pidfd.duplicate(t.fd)
        } catch {
            let hint = error == .notPermitted ? ": run as root or with CAP_SYS_PTRACE over mysqld" : ""
            return .failure(.refused("fd \(t.fd) could not be duplicated with pidfd_getfd (\(error))\(hint); nothing changed"))
        }
        func refuse(_ why: String) -> Result<(OwnedDescriptor, KeepaliveOptions, TCPHealth), ActionResult> {
            .failure(.refused(why + "; nothing changed"))
        }
        guard let inode = try? inodeOf(fd: socket.fd), inode == t.inode else {
            return refuse("fd \(t.fd) is no longer socket inode \(t.inode)")
        }
        guard case .inet(_, let peer)? = try? SocketEndpoints(fd: socket.fd), peer.normalized == t.peer?.normalized else {
            return refuse("socket inode \(t.inode) no longer has peer \(t.peer?.description ?? "?")")
        }
        guard let info = try? TCPHealth.read(fd: socket.fd) else { return refuse("tcp_info of inode \(t.inode) is not readable") }
        guard info.state == .established else {
            return refuse("the connection is \(info.state), not ESTABLISHED" + (info.state == .closeWait ? " (the client already closed its end: see zombies client-gone)" : ""))
        }
        guard let saved = try? KeepaliveOptions.read(fd: socket.fd) else { return refuse("its keepalive options are not readable") }
        return .success((socket, saved, info))
    }

    /// Keepalive after 1 s idle, every 1 s, enough probes to outlast the timeout by one; a user
    /// timeout only when data is already unacknowledged (retransmitting: keepalive waits then).
    /// Never a user timeout on an idle socket: it would drop a live peer slower than 1 s.
    func aggressive(for info: TCPHealth) -> KeepaliveOptions {
        let seconds = max(5, Int32(timeoutSeconds.rounded(.down)))
        return KeepaliveOptions(keepalive: true, idleSeconds: 1, intervalSeconds: 1, count: 3,
                                userTimeoutMilliseconds: info.unacked > 0 ? (seconds - 1) * 1000 : 0)
    }

    /// Writes the probe's options; on failure puts the saved ones back and records it.
    func turnUp(_ l: inout Live, _ steps: inout Steps) -> Bool {
        do {
            try aggressive(for: l.info).write(fd: l.fd)
            l.mode = .probing
            return true
        } catch {
            steps[l.index].detail.restored = (try? l.saved.write(fd: l.fd)) != nil
            steps[l.index].result = .failed("setting keepalive options: \(error)")
            return false
        }
    }

    /// Looks at every live socket every 20 ms until each has a verdict, or a signal ends the
    /// probe (every changed socket gets its own options back first).
    func watch(_ live: inout [Live], _ steps: inout Steps, signals: DeferredSignals) {
        while !live.isEmpty {
            if let s = signals.take() {
                for l in live {
                    steps[l.index].detail.restored = l.changed
                        ? (try? l.saved.write(fd: l.fd)) != nil && (try? KeepaliveOptions.read(fd: l.fd)) == l.saved
                        : nil
                    steps[l.index].result = .interrupted("\(signalName(s)) during the probe, before a verdict" + (l.changed ? "; options written back" : "; nothing changed"))
                }
                live.removeAll()
                return
            }
            let t = Deadline.now()
            var k = 0
            while k < live.count {
                if verdict(&live[k], elapsed: t - live[k].started, &steps) { live.remove(at: k) } else { k += 1 }
            }
            if !live.isEmpty { Deadline.sleep(milliseconds: 20) }
        }
    }

    /// Looks at one socket; true when it is done with (verdict recorded, options back).
    func verdict(_ l: inout Live, elapsed: Double, _ steps: inout Steps) -> Bool {
        let info = try? TCPHealth.read(fd: l.fd)
        if let info { l.info = info }
        var verdict: Verdict?
        if let info, info.state == .close {
            verdict = .dead("after \(format2(elapsed)) s the kernel dropped the connection (no answer to keepalive or retransmissions); mysqld ends the session on its next read")
        } else if let info, Double(info.lastAckReceivedMilliseconds) / 1000 < elapsed - 0.005 {
            verdict = .alive("the client acknowledged after \(format2(elapsed - Double(info.lastAckReceivedMilliseconds) / 1000)) s")
        } else if info == nil {
            steps[l.index].result = .failed("tcp_info not readable any more")
            steps[l.index].detail.seconds = elapsed
            return true
        } else if case .watching(let until) = l.mode, elapsed >= until {
            // Quiet for a second: now probe it. A failure to is its verdict.
            return !turnUp(&l, &steps)
        } else if elapsed >= timeoutSeconds {
            verdict = .noVerdict(l.changed
                ? "no acknowledgement and not dropped within \(format2(timeoutSeconds)) s (the retransmission backoff outlasted it: probe again, or --timeout longer)"
                : "its receive window is closed (the client has not read for a while, \(info?.probes ?? 0) window probe(s) unanswered) and no ACK came within \(format2(timeoutSeconds)) s; nothing was changed: only TCP_USER_TIMEOUT could force a verdict, and it would also drop a live client that stopped reading (myconn close cuts it)")
        }
        guard var verdict else { return false }
        steps[l.index].result = .done
        steps[l.index].detail.seconds = elapsed
        if case .dead = verdict {
            steps[l.index].detail.restored = nil
        } else if !l.changed {
            steps[l.index].detail.restored = nil
            if case .alive(let m) = verdict { verdict = .alive(m + "; nothing changed") }
        } else {
            steps[l.index].detail.restored = (try? l.saved.write(fd: l.fd)) != nil
                && (try? KeepaliveOptions.read(fd: l.fd)) == l.saved
        }
        steps[l.index].detail.verdict = verdict
        return true
    }
}

public func format2(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    let frac = hundredths % 100
    return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}
