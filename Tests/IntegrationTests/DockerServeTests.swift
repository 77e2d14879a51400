import Foundation
import Testing

extension RealServer {
    /// `serve` as the compose example's sidecar (docker/compose.yaml): the same checks as on the
    /// host, through its port published on 127.0.0.1, where (serve listening on the shared
    /// namespace's address, not loopback) every request needs the token.
    @Suite("Docker: serve as the sidecar", .enabled(if: DockerEnvironment.available && DockerEnvironment.toolImage != nil
        && FileManager.default.fileExists(atPath: "/usr/bin/docker-compose"), DockerEnvironment.reason))
    struct DockerServeTests {
        @Test("compose up: promtool and Prometheus agree with the oracle; close cuts one session, the app's others go on; a fault then /reset leaves no rule in the db's namespace; bad requests refused; docker stop mid-probe: the probe completes, serve exits 0")
        func composeServe() throws {
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let project = "myconn-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(project)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let token = "compose-token-" + UUID().uuidString
            let tokenFile = dir.appendingPathComponent("serve.token")
            try (token + "\n").write(to: tokenFile, atomically: true, encoding: .utf8)
            chmod(tokenFile.path, 0o600)
            let port = freePort()
            var environment = ProcessInfo.processInfo.environment
            environment["MYCONN_IMAGE"] = try #require(DockerEnvironment.toolImage)
            environment["MYCONN_DB_IMAGE"] = try #require(DockerEnvironment.images.first)
            environment["MYCONN_SERVE_PORT"] = String(port)
            environment["MYCONN_SERVE_TOKEN"] = tokenFile.path
            let compose = ["-p", project, "-f", repo.appendingPathComponent("docker/compose.yaml").path]
            func dc(_ args: [String]) throws -> RunResult { try run("/usr/bin/docker-compose", compose + args, environment: environment) }
            defer { _ = try? dc(["down", "-v", "--timeout", "5"]) }
            try #require(try dc(["up", "-d"]).status == 0)
            let api = ServeAPI(address: "127.0.0.1:\(port)", token: token)
            func sql(_ q: String) throws -> String {
                try dc(["exec", "-T", "db", "mariadb", "-N", "-e", q]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // Ready: SQL up and the app's three sessions seen.
            let ready = try ServeTests.waitMetrics(api, tries: 300, step: 200) {
                $0["myconn_up"] == 1 && $0["myconn_sessions{command=\"Query\",transport=\"tcp4\"}"] == 3
            }
            let logs = (try? dc(["logs", "serve"]))?.stdout.suffix(400) ?? ""
            try #require(ready["myconn_up"] == 1, "serve in the sidecar has SQL: \(logs)")
            let oracle = Int(try sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(3600)'")) ?? -1
            #expect(ready["myconn_sessions{command=\"Query\",transport=\"tcp4\"}"] == Double(oracle), "the oracle: \(oracle)")

            // Reads need the token here.
            #expect(try api.request("GET", "/metrics", token: .some(nil)).status == 401)
            let lint = try run("/bin/sh", ["-c", "curl -sS -H 'Authorization: Bearer \(token)' http://127.0.0.1:\(port)/metrics | /usr/bin/promtool check metrics"])
            #expect(lint.status == 0, "promtool: \(lint.stdout) \(lint.stderr)")
            let prom = try PrometheusProcess(dir: dir, target: "127.0.0.1:\(port)", tokenFile: tokenFile)
            defer { prom.stop() }
            var up: Double?, queries: Double?
            for _ in 0..<150 {
                up = try prom.value("up")
                queries = try prom.value("sum(myconn_sessions{command=\"Query\",transport=\"tcp4\"})")
                if up == 1 && queries == Double(oracle) { break }
                usleep(200_000)
            }
            #expect(up == 1 && queries == Double(oracle), "Prometheus: up \(String(describing: up)), sessions \(String(describing: queries))")
            #expect(try prom.value("sum(myconn_zombies)") == 0)

            // Act: close one of the app's sessions; the two others are untouched.
            let sessions = try #require(api.request("GET", "/sessions").json?["sessions"] as? [[String: Any]])
            let app = sessions.filter { $0["info"] as? String == "SELECT SLEEP(3600)" }.compactMap { $0["id"] as? Int }
            try #require(app.count == 3)
            let cut = try api.request("POST", "/sessions/\(app[0])/close", body: #"{"method": "destroy"}"#)
            #expect(cut.status == 200, "\(cut.body)")
            #expect((cut.json?["targets"] as? [[String: Any]])?.first?["session_gone"] as? Bool == true)
            let ids = try sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { Int($0) }
            #expect(!ids.contains(app[0]) && ids.contains(app[1]) && ids.contains(app[2]), "only the target is gone: \(ids)")

            // A fault, then /reset: nothing of ours left in the db's network namespace.
            let dbPID = try docker(["inspect", "-f", "{{.State.Pid}}", "\(project)_db_1"])
            let f = try api.request("POST", "/sessions/\(app[1])/faults", body: #"{"type": "loss", "percent": 50, "for": "60s"}"#)
            #expect(f.status == 200, "\(f.body)")
            #expect(try run("/usr/bin/nsenter", ["-t", dbPID, "-n", "/usr/sbin/nft", "list", "tables"]).stdout.contains("myconn"))
            #expect(try api.request("POST", "/reset").status == 200)
            #expect(!(try run("/usr/bin/nsenter", ["-t", dbPID, "-n", "/usr/sbin/nft", "list", "ruleset"]).stdout.contains("myconn")))

            // Refused, each with its status; nothing done.
            #expect(try api.request("POST", "/sessions/\(app[2])/kill", token: "wrong").status == 401)
            #expect(try api.request("POST", "/sessions/\(app[2])/kill", body: "{").status == 400)
            #expect(try api.request("POST", "/sessions/\(app[2])/kill", body: "{\"query\": \"" + String(repeating: "x", count: 5000) + "\"}").status == 413)
            #expect(try api.request("POST", "/sessions/99999/kill").status == 404)
            #expect(try sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").contains(Substring(String(app[2]))))

            // docker stop (SIGTERM) while a probe waits on a blackholed client: it completes, exit 0.
            let bh = try api.request("POST", "/sessions/\(app[2])/faults", body: #"{"type": "blackhole", "for": "20s"}"#)
            #expect(bh.status == 200, "\(bh.body)")
            let reply = Locked<ServeAPI.Reply?>(nil)
            let thread = Thread { reply.set(try? api.request("POST", "/sessions/\(app[2])/probe", body: #"{"timeout": 6}"#)) }
            thread.start()
            usleep(1_000_000)
            #expect(reply.get() == nil, "the probe is in flight")
            let stop = try dc(["stop", "-t", "30", "serve"])
            #expect(stop.status == 0, "\(stop.stderr)")
            for _ in 0..<100 where reply.get() == nil { usleep(100_000) }
            let probe = try #require(reply.get(), "the request in flight got its answer")
            #expect(probe.status == 200, "\(probe.body)")
            let t = (probe.json?["targets"] as? [[String: Any]])?.first
            #expect(["dead", "no-verdict"].contains(t?["verdict"] as? String ?? "") && t?["options_restored"] as? Bool == true, "\(String(describing: t))")
            #expect(try docker(["inspect", "-f", "{{.State.ExitCode}}", "\(project)_serve_1"]) == "0", "serve exited 0")
        }
    }
}
