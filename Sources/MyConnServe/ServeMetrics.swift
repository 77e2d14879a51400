import MyConnCore
import Prometheus
import Synchronization

/// `/metrics`: what the last snapshot saw, and what serve has done since it started, through
/// swift-prometheus. Names follow Prometheus' and mysqld_exporter's conventions: base units,
/// `_total` on counters, no label per session. Every series of a labelled gauge that was ever
/// seen stays, at 0 once nothing has its labels (a series that vanishes reads as "no data",
/// not as none); the known label values (zombie classes, transports) are there from the start.
final class ServeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let up: Gauge
    private let snapshotSeconds: Gauge
    private let snapshotTime: Gauge
    private let retransmitting: Gauge
    private let longestQuery: Gauge
    private let oldestTransaction: Gauge
    private let rtt: ValueHistogram
    private let lastReceive: ValueHistogram
    private let zombies: [ZombieClass: Gauge]
    private let unauthorized: Counter
    private let snapshots: Counter
    private let labelled = Mutex<[String: Gauge]>([:])
    private let counters = Mutex<[String: Counter]>([:])
    /// Held by an update and by a render: a scrape never sees a snapshot half applied.
    private let gate = Mutex(())
    /// The exposition as last rendered: a scrape copies it, and waits for nothing while the next
    /// snapshot is applied (at 10,000 sessions that is 20,000 histogram observations). A counter
    /// that moves drops it; the next scrape renders again.
    private let rendered = Mutex<[UInt8]?>(nil)

    static let rttBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
    static let lastReceiveBuckets: [Double] = [1, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400]

    init() {
        up = registry.makeGauge(name: "myconn_up", help: "1 when the last snapshot joined the processlist; 0 when SQL was lost (kernel-only or no snapshot)")
        snapshotSeconds = registry.makeGauge(name: "myconn_snapshot_duration_seconds", help: "Wall-clock time the last snapshot took")
        snapshotTime = registry.makeGauge(name: "myconn_snapshot_timestamp_seconds", help: "When the last snapshot was taken, in seconds since the epoch")
        retransmitting = registry.makeGauge(name: "myconn_sessions_retransmitting", help: "Sessions whose socket is retransmitting now (tcp_info retransmits > 0)")
        longestQuery = registry.makeGauge(name: "myconn_longest_query_seconds", help: "TIME of the longest-running statement (command Query); 0 when none runs")
        oldestTransaction = registry.makeGauge(name: "myconn_oldest_transaction_seconds", help: "Age of the oldest open InnoDB transaction (information_schema.INNODB_TRX); 0 when none")
        rtt = registry.makeValueHistogram(name: "myconn_session_rtt_seconds", buckets: Self.rttBuckets,
                                          help: "Smoothed RTT of each TCP session's socket, observed once per session per snapshot")
        lastReceive = registry.makeValueHistogram(name: "myconn_session_last_receive_seconds", buckets: Self.lastReceiveBuckets,
                                                  help: "Seconds since each TCP session's socket last received data, observed once per session per snapshot")
        unauthorized = registry.makeCounter(name: "myconn_http_unauthorized_total",
                                            help: "Requests refused for a missing or wrong token (401); the audit log keeps 10 a minute")
        snapshots = registry.makeCounter(name: "myconn_snapshots_total",
                                         help: "Snapshots taken (one every --interval; a scrape never takes one)")
        var z: [ZombieClass: Gauge] = [:]
        for c in ZombieClass.allCases {
            z[c] = registry.makeGauge(name: "myconn_zombies", labels: [("class", c.rawValue)],
                                      help: "Sessions and sockets of each zombie class (one may be in several)")
        }
        zombies = z
        for t in ["tcp4", "tcp6", "unix"] { _ = gauge("myconn_sessions", [("command", "Sleep"), ("transport", t)]) }
    }

    private func gauge(_ name: String, _ labels: [(String, String)]) -> Gauge {
        let key = name + labels.map { "\u{0}\($0.0)=\($0.1)" }.joined()
        return labelled.withLock { all in
            if let g = all[key] { return g }
            let help = name == "myconn_sessions" ? "Sessions by processlist command and transport (myconn's own left out)"
                : "Sockets of mysqld that belong to no session, by TCP state (none: a unix socket)"
            let g = registry.makeGauge(name: name, labels: labels, help: help)
            all[key] = g
            return g
        }
    }

    /// One action's outcome (the API's and the reaper's).
    func count(action: String, method: String, outcome: String, by n: Int = 1) {
        let key = "\(action)\u{0}\(method)\u{0}\(outcome)"
        let c = counters.withLock { all in
            if let c = all[key] { return c }
            let c = registry.makeCounter(name: "myconn_actions_total", labels: [("action", action), ("method", method), ("outcome", outcome)],
                                         help: "Actions done through serve (API and reaper), by outcome")
            all[key] = c
            return c
        }
        c.increment(by: Int64(n))
        moved()
    }

    /// A request refused for its token (401).
    func countUnauthorized() {
        unauthorized.increment()
        moved()
    }

    /// One decision of the reaper inside serve (matched, acted, skipped, failed, dry-run).
    func countReap(_ decision: String) {
        let key = "reap\u{0}\(decision)"
        let c = counters.withLock { all in
            if let c = all[key] { return c }
            let c = registry.makeCounter(name: "myconn_reap_decisions_total", labels: [("decision", decision)],
                                         help: "Decisions of the reaper inside serve (--rules), by kind")
            all[key] = c
            return c
        }
        c.increment()
        moved()
    }

    /// The gauges and histograms from one snapshot.
    func update(_ snap: Snapshot, oldestTransaction age: Int64?, now: Double) {
        let bytes = gate.withLock { _ in
            apply(snap, oldestTransaction: age, now: now)
            return registry.emitToBuffer()
        }
        rendered.withLock { $0 = bytes }
    }

    private func apply(_ snap: Snapshot, oldestTransaction age: Int64?, now: Double) {
        snapshots.increment()
        up.set(snap.mode == .sql ? 1.0 : 0.0)
        snapshotSeconds.set(snap.milliseconds / 1000)
        snapshotTime.set(now)
        oldestTransaction.set(Double(age ?? 0))
        guard let report = snap.report else {
            labelled.withLock { all in for g in all.values { g.set(0.0) } }
            for g in zombies.values { g.set(0.0) }
            retransmitting.set(0.0)
            longestQuery.set(0.0)
            return
        }
        var sessions: [String: (labels: [(String, String)], n: Int)] = [:]
        var zombieCounts: [ZombieClass: Int] = [:]
        var retrans = 0
        var longest: Int64 = 0
        for s in report.sessions {
            let command = s.row.command ?? "unknown"
            let transport = (s.socket?.transport ?? s.transport)?.rawValue ?? "unknown"
            sessions["\(command)\u{0}\(transport)", default: ([("command", command), ("transport", transport)], 0)].n += 1
            for c in s.zombie { zombieCounts[c, default: 0] += 1 }
            if command == "Query", let t = s.row.time { longest = max(longest, t) }
            if let h = s.socket?.health {
                if h.retransmits > 0 { retrans += 1 }
                rtt.record(Double(h.rttMicroseconds) / 1_000_000)
                lastReceive.record(Double(h.lastReceiveMilliseconds) / 1000)
            }
        }
        var unmatched: [String: Int] = [:]
        for k in report.unmatchedSockets {
            unmatched[k.tcpState?.description ?? "none", default: 0] += 1
            for c in k.zombie ?? [] { zombieCounts[c, default: 0] += 1 }
        }
        labelled.withLock { all in for g in all.values { g.set(0.0) } }
        for (_, v) in sessions { gauge("myconn_sessions", v.labels).set(Double(v.n)) }
        for (state, n) in unmatched { gauge("myconn_unmatched_sockets", [("tcp_state", state)]).set(Double(n)) }
        for (c, g) in zombies { g.set(Double(zombieCounts[c] ?? 0)) }
        retransmitting.set(Double(retrans))
        longestQuery.set(Double(longest))
    }

    /// The exposition text.
    func render() -> [UInt8] {
        if let bytes = rendered.withLock({ $0 }) { return bytes }
        let bytes = gate.withLock { _ in registry.emitToBuffer() }
        rendered.withLock { $0 = bytes }
        return bytes
    }

    private func moved() { rendered.withLock { $0 = nil } }
}
