import Foundation
import Testing
@testable import MyConnCore
@testable import MyConnServe

/// The recordings of MyConnCoreTests/Fixtures/reap (its README says how each was captured):
/// MariaDB 10.11, sessions 1 (event scheduler, Daemon), 6 (tcp4, Sleep, idle zombie), 7 (tcp6,
/// Sleep, idle), 8 (unix, Sleep, idle), 9 and 10 (tcp4, Query, TIME 4 and 3), 11 (unix, Query,
/// TIME 3), 12 (tcp4, Sleep); and the same server seen without SQL (7 client sockets).
enum RecordedReports {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../MyConnCoreTests/Fixtures/reap").standardized

    static func reports(_ file: String) throws -> [ListReport] {
        try ReapRecording.read(Array(try Data(contentsOf: dir.appendingPathComponent(file))))
    }
}

@Suite("serve: the metrics of a snapshot")
struct ServeMetricsTests {
    static func exposition(_ m: ServeMetrics) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in String(decoding: m.render(), as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let space = line.lastIndex(of: " ")!
            out[String(line[..<space])] = Double(line[line.index(after: space)...])
        }
        return out
    }

    @Test("a recorded list join: sessions by command and transport, zombies by class, the longest query, one RTT per TCP session")
    func joined() throws {
        let report = try #require(try RecordedReports.reports("list.jsonl").first)
        let m = ServeMetrics()
        m.update(Snapshot(mode: .sql, report: report, uptimeSeconds: nil, milliseconds: 12.5, sequence: 1), oldestTransaction: 42, now: 1000)
        let e = Self.exposition(m)
        #expect(e["myconn_up"] == 1)
        #expect(e["myconn_sessions{command=\"Sleep\",transport=\"tcp4\"}"] == 2)
        #expect(e["myconn_sessions{command=\"Sleep\",transport=\"tcp6\"}"] == 1)
        #expect(e["myconn_sessions{command=\"Sleep\",transport=\"unix\"}"] == 1)
        #expect(e["myconn_sessions{command=\"Query\",transport=\"tcp4\"}"] == 2)
        #expect(e["myconn_sessions{command=\"Query\",transport=\"unix\"}"] == 1)
        #expect(e["myconn_sessions{command=\"Daemon\",transport=\"unix\"}"] == 1)
        #expect(e["myconn_zombies{class=\"idle\"}"] == 3)
        #expect(e["myconn_zombies{class=\"client-gone\"}"] == 0, "every class is there, at 0 when none")
        #expect(e["myconn_longest_query_seconds"] == 4)
        #expect(e["myconn_oldest_transaction_seconds"] == 42)
        #expect(e["myconn_session_rtt_seconds_count"] == 5, "sessions 6, 7, 9, 10, 12 have tcp_info")
        #expect(e["myconn_sessions_retransmitting"] == 0)
        #expect(e["myconn_snapshot_duration_seconds"] == 0.0125)
        #expect(e["myconn_snapshot_timestamp_seconds"] == 1000)
    }

    @Test("without SQL: up 0, the sockets by TCP state, and yesterday's session series back at 0 rather than gone")
    func kernelOnly() throws {
        let m = ServeMetrics()
        m.update(Snapshot(mode: .sql, report: try RecordedReports.reports("list.jsonl")[0], uptimeSeconds: nil, milliseconds: 1, sequence: 1),
                 oldestTransaction: nil, now: 1)
        let noSQL = try #require(try RecordedReports.reports("list-no-sql.json").first)
        m.update(Snapshot(mode: .kernelOnly("Too many connections"), report: noSQL, uptimeSeconds: nil, milliseconds: 1, sequence: 2),
                 oldestTransaction: nil, now: 2)
        let e = Self.exposition(m)
        #expect(e["myconn_up"] == 0)
        #expect(e["myconn_unmatched_sockets{tcp_state=\"ESTABLISHED\"}"] == 5)
        #expect(e["myconn_unmatched_sockets{tcp_state=\"none\"}"] == 2, "a unix socket has no TCP state")
        #expect(e["myconn_sessions{command=\"Query\",transport=\"tcp4\"}"] == 0)
        #expect(e["myconn_zombies{class=\"idle\"}"] == 0)
    }

    @Test("actions are counted by action, method and outcome; the exposition names counters _total")
    func counters() {
        let m = ServeMetrics()
        m.count(action: "close", method: "pidfd", outcome: "done")
        m.count(action: "close", method: "pidfd", outcome: "done")
        m.count(action: "kill", method: "sql", outcome: "refused")
        m.countReap("acted")
        let e = Self.exposition(m)
        #expect(e["myconn_actions_total{action=\"close\",method=\"pidfd\",outcome=\"done\"}"] == 2)
        #expect(e["myconn_actions_total{action=\"kill\",method=\"sql\",outcome=\"refused\"}"] == 1)
        #expect(e["myconn_reap_decisions_total{decision=\"acted\"}"] == 1)
        let text = String(decoding: m.render(), as: UTF8.self)
        #expect(text.contains("# TYPE myconn_actions_total counter"))
        #expect(text.contains("# TYPE myconn_session_rtt_seconds histogram"))
    }
}

@Suite("serve: what a request may be")
struct ServeRequestTests {
    @Test("--listen: addresses, unix paths, loopback or not")
    func listen() {
        #expect(ListenAddress.parse("127.0.0.1:9807") == .tcp(host: "127.0.0.1", port: 9807))
        #expect(ListenAddress.parse("[::1]:0") == .tcp(host: "::1", port: 0))
        #expect(ListenAddress.parse("unix:/run/myconn.sock") == .unix(path: "/run/myconn.sock"))
        for bad in ["localhost:9807", "127.0.0.1", "127.0.0.1:70000", "unix:relative", ":9807", "[::1]", "1.2.3.4:-1"] {
            #expect(ListenAddress.parse(bad) == nil, "\(bad)")
        }
        #expect(ListenAddress.parse("127.1.2.3:1")?.isLocal == true)
        #expect(ListenAddress.parse("[::1]:1")?.isLocal == true)
        #expect(ListenAddress.parse("[::ffff:127.0.0.1]:1")?.isLocal == true)
        #expect(ListenAddress.parse("0.0.0.0:1")?.isLocal == false)
        #expect(ListenAddress.parse("[::]:1")?.isLocal == false)
        #expect(ListenAddress.parse("10.0.0.1:1")?.isLocal == false)
        #expect(ListenAddress.tcp(host: "::1", port: 9).description == "[::1]:9")
    }

    @Test("bodies: defaults, each endpoint's keys, Toxiproxy's names")
    func bodies() throws {
        let (plain, defaults) = try ActionRequest.read(.close, body: Array(" \n".utf8))
        #expect(plain == .close(.pidfd), "no body: pidfd")
        #expect(defaults == ActionOptions(dryRun: false, wait: nil), "no body: the server's --wait, no dry run")
        let (close, options) = try ActionRequest.read(.close, body: Array(#"{"method":"destroy","dry_run":true,"wait":0}"#.utf8))
        #expect(close == .close(.destroy))
        #expect(options == ActionOptions(dryRun: true, wait: 0))
        #expect(try ActionRequest.read(.kill, body: Array(#"{"query":true}"#.utf8)).0 == .kill(query: true))
        #expect(try ActionRequest.read(.probe, body: Array(#"{"timeout":30}"#.utf8)).0 == .probe(timeout: 30))
        func fault(_ json: String) throws -> FaultRequest? {
            if case .fault(let f) = try ActionRequest.read(.faults, body: Array(json.utf8)).0 { return f }
            return nil
        }
        #expect(try fault(#"{"type":"blackhole"}"#) == .network(.blackhole, .both, seconds: nil))
        #expect(try fault(#"{"type":"timeout","stream":"upstream","for":"3s"}"#) == .network(.blackhole, .toServer, seconds: 3))
        #expect(try fault(#"{"type":"loss","percent":30,"direction":"to-client","for":0.5}"#) == .network(.loss(percent: 30), .toClient, seconds: 0.5))
        #expect(try fault(#"{"type":"bandwidth","rate":64}"#) == .network(.rate(kbit: 512), .both, seconds: nil), "Toxiproxy's KB/s")
        #expect(try fault(#"{"type":"rate","kbit":512}"#) == .network(.rate(kbit: 512), .both, seconds: nil))
        #expect(try fault(#"{"type":"latency","latency":300,"jitter":50,"stream":"downstream"}"#) == .delay(milliseconds: 300, jitter: 50, .toClient, seconds: nil), "Toxiproxy's latency")
        #expect(try fault(#"{"type":"delay","latency":20,"for":"2m"}"#) == .delay(milliseconds: 20, jitter: 0, .both, seconds: 120))
        #expect(try fault(#"{"type":"reset_peer"}"#) == .reset)
        #expect(try fault(#"{"type":"half-close","side":"write"}"#) == .halfClose(.write))
    }

    @Test("bodies refused whole, with one line that says what is wanted")
    func refusedBodies() {
        let cases: [(ActionRequest.Verb, String, String)] = [
            (.close, "{", "one JSON object"),
            (.close, "[]", "one JSON object"),
            (.close, "null", "one JSON object"),
            (.close, #"{"method":{"x":1}}"#, "one JSON object"),
            (.close, #"{"method":"hammer"}"#, "one of: ptrace, pidfd, destroy"),
            (.close, #"{"method":"pidfd","frobnicate":1}"#, "unknown key \"frobnicate\""),
            (.kill, #"{"query":"yes"}"#, "true or false"),
            (.kill, #"{"wait":61}"#, "from 0 to 60"),
            (.probe, #"{"timeout":1}"#, "from 5 to 60"),
            (.faults, "{}", "\"type\" is required"),
            (.faults, #"{"type":"loss"}"#, "\"percent\""),
            (.faults, #"{"type":"loss","percent":0}"#, "0.1"),
            (.faults, #"{"type":"rate","kbit":1.5}"#, "whole number"),
            (.faults, #"{"type":"blackhole","for":"forever"}"#, "a duration"),
            (.faults, #"{"type":"blackhole","for":"nan"}"#, "a duration"),
            (.faults, #"{"type":"blackhole","direction":"both","stream":"upstream"}"#, "not both"),
            (.faults, #"{"type":"reset","for":"3s"}"#, "acts once"),
            (.faults, #"{"type":"half-close"}"#, "\"side\""),
            (.faults, #"{"type":"latency"}"#, "\"latency\", whole milliseconds"),
            (.faults, #"{"type":"latency","latency":100,"jitter":200}"#, "from 0 to 100"),
            (.faults, #"{"type":"latency","latency":1.5}"#, "whole milliseconds"),
            (.faults, #"{"type":"slicer"}"#, "one of"),
        ]
        for (verb, body, words) in cases {
            do {
                _ = try ActionRequest.read(verb, body: Array(body.utf8))
                Issue.record("\(body) was taken")
            } catch {
                #expect(error.message.contains(words), "\(body): \(error.message)")
                #expect(!error.message.contains("\n"))
            }
        }
    }

    @Test("fault ids: rules by number, delays as delay-N")
    func faultIDs() {
        #expect(FaultID("3") == .rules(3))
        #expect(FaultID("delay-2") == .delay(2))
        for bad in ["", "-1", "delay-", "delay-x", "x", "3.5"] { #expect(FaultID(bad) == nil, "\(bad)") }
    }

    @Test("Host headers of the loopback API, and the token compared whole")
    func gate() {
        for ok in ["localhost", "localhost:9807", "127.0.0.1:9807", "[::1]:9807", "127.9.9.9"] { #expect(Gatekeeper.loopbackHost(ok), "\(ok)") }
        for bad in ["attacker.invalid", "attacker.invalid:9807", "10.0.0.1:9807", "[::1", "localhost.attacker.invalid"] {
            #expect(!Gatekeeper.loopbackHost(bad), "\(bad)")
        }
        #expect(Gatekeeper.equal(Array("abc".utf8), Array("abc".utf8)))
        #expect(!Gatekeeper.equal(Array("abc".utf8), Array("abd".utf8)))
        #expect(!Gatekeeper.equal(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!Gatekeeper.equal([], Array("a".utf8)))
    }
}
