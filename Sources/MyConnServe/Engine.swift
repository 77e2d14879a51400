#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Dispatch
import LinuxKernel
import MyConnCore
import SystemPackage
import Synchronization

/// What the last snapshot showed, ready to serve: reads never wait for the engine.
struct Published: Sendable {
    var snapshot: Snapshot
    /// `GET /sessions` and `GET /zombies`: the `list --json` and `zombies --json` documents.
    var sessions: [UInt8]
    var zombies: [UInt8]
    /// Seconds since the epoch.
    var takenAt: Double
}

/// The one thread that looks at mysqld and acts on it: every `--interval` a snapshot (the
/// `list` join, through one SQL connection kept by ``SnapshotTaker``), the reaper's cycle when
/// there are rules, and the API's actions, one at a time, in order of arrival. One thread holds
/// every ptrace stop, every namespace switch and the one SQL session: two requests never act at
/// once, and the reaper never acts beside them. The HTTP side hands jobs over and awaits them.
final class Engine: @unchecked Sendable {
    let settings: ServeSettings
    let metrics: ServeMetrics
    let audit: AuditLog
    /// The delays held, each on a thread of its own (they last; the engine must not wait on them).
    let delays = Delays()

    private struct Queue {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
    }
    private let queue = Mutex(Queue())
    private let wake = DispatchSemaphore(value: 0)
    private let latest = Mutex<Published?>(nil)
    private var thread: OSThread<Void>?

    // The engine thread's own (touched on it only).
    private(set) var taker: SnapshotTaker!
    private var reaper: Reaper?
    private var cycle: UInt64 = 0

    init(settings: ServeSettings, metrics: ServeMetrics, audit: AuditLog) {
        self.settings = settings
        self.metrics = metrics
        self.audit = audit
    }

    /// The last snapshot, as served.
    var published: Published? { latest.withLock { $0 } }

    func start() throws(Errno) {
        thread = try OSThread { [self] in loop() }
    }

    /// Lets the job in progress and those already queued finish, then ends the thread.
    func stop() {
        queue.withLock { $0.stopping = true }
        wake.signal()
        _ = thread?.join()
        thread = nil
    }

    /// Runs `job` on the engine's thread and returns what it returned; nil once the engine stops.
    func perform<T: Sendable>(_ job: @escaping @Sendable (Engine) -> T) async -> T? {
        await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
            let accepted = queue.withLock { q -> Bool in
                guard !q.stopping else { return false }
                q.jobs.append { [self] in c.resume(returning: job(self)) }
                return true
            }
            if accepted { wake.signal() } else { c.resume(returning: nil) }
        }
    }

    private func loop() {
        taker = SnapshotTaker(lister: settings.makeLister(), fallback: settings.fallback, connect: settings.connect)
        if let rules = settings.rules { reaper = makeReaper(rules) }
        var nextSnapshot = Deadline.now()
        while true {
            let now = Deadline.now()
            if now >= nextSnapshot {
                nextSnapshot = now + settings.interval
                look()
                continue
            }
            let job = queue.withLock { q -> (@Sendable () -> Void)? in q.jobs.isEmpty ? nil : q.jobs.removeFirst() }
            if let job { job(); continue }
            if queue.withLock({ $0.stopping }) { break }
            _ = wake.wait(timeout: .now() + .milliseconds(max(1, Int((nextSnapshot - now) * 1000))))
        }
        // Stopped: what was queued meanwhile is refused (its request gets 503).
    }

    /// One snapshot, published; with rules, the reaper's cycle on it.
    private func look() {
        if let reaper {
            cycle += 1
            switch settings.reapAction {
            case .print: _ = reaper.runCycle(cycle, nil as SQLKill?, socketAction: false)
            case .kill, .killQuery:
                _ = reaper.runCycle(cycle, SQLKill(killer: CurrentConnectionKiller(taker: taker), queryOnly: settings.reapAction == .killQuery), socketAction: false)
            case .close: _ = reaper.runCycle(cycle, SocketCut(how: settings.reapMethod), socketAction: true)
            case .probe: _ = reaper.runCycle(cycle, Prober(timeoutSeconds: settings.probeTimeoutSeconds), socketAction: true)
            }
        } else {
            publish(taker.take())
        }
    }

    /// Takes a snapshot now (an action naming a session the last one did not have).
    func refresh() -> Published? {
        publish(taker.take())
        return published
    }

    private func publish(_ snap: Snapshot) {
        var age: Int64?
        if snap.mode == .sql, let c = taker.sqlConnection {
            age = (try? c.transactionAges(nil))?.values.max()
        }
        let now = Double(time(nil))
        var sessions: [UInt8] = [], zombies: [UInt8] = []
        if var report = snap.report {
            JSONReport.write(report) { sessions.append(contentsOf: $0) }
            report.sessions = report.sessions.filter { !$0.zombie.isEmpty }
            report.unmatchedSockets = report.unmatchedSockets.filter { !($0.zombie ?? []).isEmpty }
            JSONReport.write(report) { zombies.append(contentsOf: $0) }
        }
        latest.withLock { $0 = Published(snapshot: snap, sessions: sessions, zombies: zombies, takenAt: now) }
        metrics.update(snap, oldestTransaction: age, now: now)
    }

    private func makeReaper(_ rules: ReapRules) -> Reaper {
        let r = Reaper(rules: rules, taker: taker)
        r.waitSeconds = settings.waitSeconds
        r.audit = audit
        r.onSnapshot = { [unowned self] in publish($0) }
        let metrics = self.metrics
        r.onEvent = { e in
            metrics.countReap(e.kind.rawValue)
            guard let action = e.action, let method = e.method, e.kind != .matched else { return }
            let outcome: String
            switch e.kind {
            case .acted: outcome = "done"
            case .skipped: outcome = "refused"
            case .failed: outcome = "failed"
            case .dryRun: outcome = "dry-run"
            case .matched: return
            }
            metrics.count(action: action, method: method, outcome: outcome)
        }
        r.onNote = { fputsStderr("myconn serve: reap: " + $0 + "\n") }
        return r
    }
}

func fputsStderr(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
