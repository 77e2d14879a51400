import Foundation
import Testing

extension RealServer {
    @Suite("probe: the kernel decides whether clients are alive")
    struct ProbeTests {
        /// The keepalive timer of the server end of `peer`'s connection, as `ss -o` prints it
        /// (e.g. `timer:(keepalive,119min,0)`): read from the kernel, not through myconn.
        static func keepaliveTimer(server: TestServer, peer: String) throws -> String? {
            let r = try run("/usr/bin/ss", ["-tnoH", "state", "established", "sport", "= :\(server.port)"])
            let line = r.stdout.split(separator: "\n").first { $0.split(separator: " ", omittingEmptySubsequences: true).contains { $0 == peer } }
            return line?.split(separator: " ").first { $0.hasPrefix("timer:(") }.map(String.init)
        }

        @Test("clients on an unplugged test host (idle, and streaming a large result) are found dead and dropped; live loopback clients (idle, looping, not reading) are left alive with their options back and keep working")
        func deadDroppedLiveKept() throws {
            let host = try TestHost()
            let server = try TestServer(extraArgs: ["--bind-address=127.0.0.1,::1,\(host.serverAddress)"])
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON *.* TO 'app'@'%'")
            let remote = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "tcp4:stream:1"], user: "app", password: "pw",
                                                netns: host.name, host4: host.serverAddress)
            let local = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "tcp4:loop:1", "tcp4:bigresult:1", "unix:idle:1"])
            let (deadIdle, deadStream) = (remote.sessions[0], remote.sessions[1])
            let (liveIdle, liveLoop, liveStalled, unixIdle) = (local.sessions[0], local.sessions[1], local.sessions[2], local.sessions[3])
            usleep(1_500_000)  // the stalled client's window closes; the idle ones go idle
            let timerBefore = try #require(try Self.keepaliveTimer(server: server, peer: liveIdle.local),
                                           "MariaDB turns keepalive on for its TCP sessions")

            try host.unplug()
            // zombies can see the streaming client (its data goes unacknowledged) but not the
            // idle one: nothing is sent to it. That is what probe is for.
            var flagged: [Int] = []
            for _ in 0..<40 {
                let z = try myconn(["zombies", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
                flagged = (try parseJSON(z.stdout)["sessions"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
                if flagged.contains(Int(deadStream.id)) { break }
                usleep(250_000)
            }
            #expect(flagged == [Int(deadStream.id)], "before probing, only the streaming client is seen as unreachable")

            let ids = [deadIdle, deadStream, liveIdle, liveLoop, liveStalled].map { String($0.id) }
            let r = try myconn(["probe"] + ids + ["--no-defaults", "-uroot", "-S", server.socketPath, "--yes", "--json",
                                                  "--timeout", "15", "--audit-log", server.dir.appendingPathComponent("audit.log").path])
            #expect(r.status == 11, "exit status 11: a client was found dead; stderr: \(r.stderr)")
            let targets = try parseJSON(r.stdout)["targets"] as? [[String: Any]] ?? []
            func outcome(_ s: DemoClientsProcess.Session) -> [String: Any]? {
                targets.first { $0["session_id"] as? Int == Int(s.id) }
            }
            for s in [deadIdle, deadStream] {
                #expect(outcome(s)?["verdict"] as? String == "dead", "session \(s.id): \(outcome(s) ?? [:])")
                #expect(outcome(s)?["session_gone"] as? Bool == true, "mysqld ended session \(s.id) itself")
                #expect((outcome(s)?["elapsed_ms"] as? Int ?? .max) < 15_000)
            }
            #expect(outcome(liveIdle)?["verdict"] as? String == "alive")
            #expect(outcome(liveIdle)?["options_restored"] as? Bool == true)
            #expect(outcome(liveLoop)?["verdict"] as? String == "alive")
            // A client that stopped reading keeps its window closed: alive if a window probe was
            // answered in time, else no verdict; never dropped, and nothing changed on it.
            let stalled = outcome(liveStalled)?["verdict"] as? String
            #expect(stalled == "alive" || stalled == "no-verdict", "\(outcome(liveStalled) ?? [:])")
            #expect(outcome(liveStalled)?["options_restored"] is NSNull)

            // The kernel's own view: the live idle socket's keepalive timer is back to the
            // server's setting (minutes), not the probe's second.
            let timerAfter = try Self.keepaliveTimer(server: server, peer: liveIdle.local)
            #expect(timerBefore.contains("min") && timerAfter?.contains("min") == true,
                    "keepalive timer before \(timerBefore), after \(timerAfter ?? "none")")
            let present = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) }
            for s in [liveIdle, liveLoop, liveStalled, unixIdle] { #expect(present.contains(s.id), "live session \(s.id) is still there") }
            for s in [deadIdle, deadStream] { #expect(!present.contains(s.id), "dead session \(s.id) is gone") }

            // A unix-socket session has no network to probe: refused, nothing changed, status 8.
            let u = try myconn(["probe", String(unixIdle.id), "--no-defaults", "-uroot", "-S", server.socketPath, "--yes", "--json",
                                "--audit-log", server.dir.appendingPathComponent("audit.log").path])
            #expect(u.status == 8)
            let ut = try parseJSON(u.stdout)["targets"] as? [[String: Any]] ?? []
            #expect(ut.first?["verdict"] as? String == "refused")

            // A socket named twice is probed once (a second duplicate would save the probe's own
            // options as the ones to put back). A dry run verifies and changes nothing.
            let twice = try myconn(["probe", String(liveLoop.id), String(liveLoop.id), "--dry-run", "--json",
                                    "--no-defaults", "-uroot", "-S", server.socketPath,
                                    "--audit-log", server.dir.appendingPathComponent("audit.log").path])
            #expect(twice.status == 0, "\(twice.stderr)")
            let tt = try parseJSON(twice.stdout)["targets"] as? [[String: Any]] ?? []
            #expect(tt.count == 1 && tt.first?["verdict"] as? String == "dry-run")

            let summaries = local.finish()
            #expect(summaries[liveIdle.id]?.ok == 1 && summaries[liveIdle.id]?.errorCode == nil, "the probed idle client still gets answers")
            #expect(summaries[unixIdle.id]?.ok == 1)
            #expect(summaries[liveLoop.id]?.errorCode == nil && (summaries[liveLoop.id]?.ok ?? 0) > 0, "the looping client never saw an error")
            let audit = try String(contentsOf: server.dir.appendingPathComponent("audit.log"), encoding: .utf8)
            #expect(audit.split(separator: "\n").filter { $0.contains(#""phase":"outcome""#) }.count == 7,
                    "one outcome record per target, the dry run's too")
        }
    }
}
