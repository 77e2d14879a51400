import Foundation
import Testing

extension RealServer {
    /// `myconn serve` against a real mariadbd and real clients, driven through curl, scraped by
    /// promtool and a real Prometheus (Debian's `prometheus`).
    @Suite("serve: metrics, the API, security, SIGTERM")
    struct ServeTests {
        static func connection(_ server: TestServer) -> [String] { ["--no-defaults", "-uroot", "-S", server.socketPath] }

        /// The test's own count of mysqld's sessions over TCP from 127.0.0.1 and ::1 (serve's own is over the unix socket).
        static func oracleCounts(_ server: TestServer) throws -> (tcp4: Int, tcp6: Int) {
            let rows = try server.sql("SELECT HOST FROM information_schema.PROCESSLIST").split(separator: "\n")
            return (rows.filter { $0.hasPrefix("127.0.0.1:") }.count, rows.filter { $0.hasPrefix("::1:") }.count)
        }

        /// Waits until `check` holds on /metrics (each try after `step` ms); the last metrics read.
        static func waitMetrics(_ serve: ServeProcess, tries: Int = 100, step: UInt32 = 100,
                                _ check: ([String: Double]) -> Bool) throws -> [String: Double] {
            try waitMetrics(serve.api, token: .some(nil), tries: tries, step: step, check)
        }

        static func waitMetrics(_ api: ServeAPI, token: String?? = .none, tries: Int = 100, step: UInt32 = 100,
                                _ check: ([String: Double]) -> Bool) throws -> [String: Double] {
            var m: [String: Double] = [:]
            for _ in 0..<tries {
                m = (try? api.metrics(token: token)) ?? [:]
                if check(m) { return m }
                usleep(step * 1000)
            }
            return m
        }

        @Test("/metrics passes promtool; a real Prometheus scraping serve sees up 1 and the oracle's counts; a client gone raises client-gone within one interval")
        func prometheusScrape() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:3", "tcp6:idle:2", "unix:idle:1"])
            defer { withExtendedLifetime(clients) {} }
            let serve = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server))
            let oracle = try Self.oracleCounts(server)
            let m = try Self.waitMetrics(serve) { $0["myconn_up"] == 1 && $0["myconn_sessions{command=\"Sleep\",transport=\"tcp4\"}"] == Double(oracle.tcp4) }
            #expect(m["myconn_up"] == 1)
            #expect(m["myconn_sessions{command=\"Sleep\",transport=\"tcp4\"}"] == Double(oracle.tcp4))
            #expect(m["myconn_sessions{command=\"Sleep\",transport=\"tcp6\"}"] == Double(oracle.tcp6))
            #expect(oracle == (3, 2))
            for c in ["client-gone", "peer-unreachable", "orphan-socket", "orphan-session", "idle"] {
                #expect(m["myconn_zombies{class=\"\(c)\"}"] == 0, "\(c)")
            }
            #expect(m["myconn_session_rtt_seconds_count"].map { $0 >= 5 } == true, "one RTT per TCP session per snapshot")
            // Scrapes never take snapshots: 40 back to back within about a second see at most
            // one new snapshot (--interval 1).
            let before = try serve.metrics()["myconn_snapshots_total"] ?? -1
            let started = Date()
            for _ in 0..<40 { _ = try serve.metrics() }
            let after = try serve.metrics()["myconn_snapshots_total"] ?? -1
            let seconds = Date().timeIntervalSince(started)
            #expect(after - before <= seconds.rounded(.up) + 1, "\(after - before) snapshots in \(seconds) s of 40 scrapes")

            // promtool's lint of the exposition format.
            let lint = try run("/bin/sh", ["-c", "curl -sS http://\(serve.address)/metrics | /usr/bin/promtool check metrics"])
            #expect(lint.status == 0, "promtool: \(lint.stdout) \(lint.stderr)")

            // A real Prometheus, on loopback, scraping serve every second.
            let prom = try PrometheusProcess(dir: server.dir, target: serve.address)
            defer { prom.stop() }
            var up: Double?, tcp4: Double?, zombies: Double?
            for _ in 0..<150 {
                up = try prom.value("up")
                tcp4 = try prom.value("sum(myconn_sessions{transport=\"tcp4\"})")
                zombies = try prom.value("sum(myconn_zombies)")
                if up == 1 && tcp4 == Double(oracle.tcp4) && zombies != nil { break }
                usleep(200_000)
            }
            #expect(up == 1, "Prometheus' up for serve")
            #expect(tcp4 == Double(oracle.tcp4), "myconn_sessions through Prometheus equals the oracle's count")
            #expect(try prom.value("sum(myconn_sessions{transport=\"tcp6\"})") == Double(oracle.tcp6))
            let closeWait = try run("/usr/bin/ss", ["-Htn", "state", "close-wait", "sport", "= :\(server.port)"]).stdout
                .split(separator: "\n").count
            #expect(zombies == Double(closeWait), "no zombie, as ss sees none in CLOSE_WAIT")

            // A client that leaves mid-query: CLOSE_WAIT on mysqld's side until its SLEEP notices.
            let gone = try DemoClientsProcess(server: server, specs: ["tcp4:abandon:1"], sleepSeconds: 20)
            defer { withExtendedLifetime(gone) {} }
            var sawCloseWait: Date?
            for _ in 0..<100 {
                let n = try run("/usr/bin/ss", ["-Htn", "state", "close-wait", "sport", "= :\(server.port)"]).stdout.split(separator: "\n").count
                if n == 1 { sawCloseWait = Date(); break }
                usleep(20_000)
            }
            let start = try #require(sawCloseWait, "the oracle sees the abandoned session's socket in CLOSE_WAIT")
            let raised = try Self.waitMetrics(serve, tries: 60, step: 50) { $0["myconn_zombies{class=\"client-gone\"}"] == 1 }
            let took = Date().timeIntervalSince(start)
            #expect(raised["myconn_zombies{class=\"client-gone\"}"] == 1)
            #expect(took <= 1.3, "within one --interval of 1 s (took \(took) s)")
            var promGone: Double?
            for _ in 0..<40 {
                promGone = try prom.value("myconn_zombies{class=\"client-gone\"}")
                if promGone == 1 { break }
                usleep(100_000)
            }
            #expect(promGone == 1, "Prometheus saw client-gone")
            #expect(serve.terminate() == 0)
        }

        @Test("close through the API cuts one session and its neighbours keep working; a fault, then /reset, leaves no rule behind")
        func actsExactly() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:3", "tcp6:loop:1"])
            let serve = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server))
            let target = clients.sessions[0].id
            let r = try serve.request("POST", "/sessions/\(target)/close", body: #"{"method": "pidfd"}"#)
            #expect(r.status == 200, "\(r.body)")
            let t = try #require((r.json?["targets"] as? [[String: Any]])?.first)
            #expect(t["session_id"] as? Int == Int(target))
            #expect(t["outcome"] as? String == "done")
            #expect(t["session_gone"] as? Bool == true, "answered once the session is gone")

            let faulted = clients.sessions[1].id
            let f = try serve.request("POST", "/sessions/\(faulted)/faults", body: #"{"type": "timeout", "stream": "downstream", "for": "30s"}"#)
            #expect(f.status == 200, "\(f.body)")
            let ft = try #require((f.json?["targets"] as? [[String: Any]])?.first)
            #expect(ft["fault"] as? String == "blackhole")
            #expect(ft["direction"] as? String == "to-client")
            let listed = try serve.request("GET", "/faults", token: .some(nil))
            #expect((listed.json?["faults"] as? [[String: Any]])?.count == 1)
            #expect(try run("/usr/sbin/nft", ["list", "tables"]).stdout.contains("myconn"))
            let reset = try serve.request("POST", "/reset")
            #expect(reset.status == 200, "\(reset.body)")
            #expect((reset.json?["healed"] as? [[String: Any]])?.count == 1)
            #expect(!(try run("/usr/sbin/nft", ["list", "ruleset"]).stdout.contains("myconn")), "no table, set or rule of ours left")
            #expect((try serve.request("GET", "/faults", token: .some(nil)).json?["faults"] as? [[String: Any]])?.isEmpty == true)
            usleep(500_000)
            #expect(serve.terminate() == 0)
            let summaries = clients.finish()
            #expect(summaries[target]?.errorCode != nil, "the closed session's client saw its connection end")
            for s in clients.sessions.dropFirst() {
                #expect(summaries[s.id]?.errorCode == nil, "session \(s.id) kept working")
                #expect(summaries[s.id]?.wrongRows == 0)
                #expect((summaries[s.id]?.ok ?? 0) > 0)
            }
            let records = try serve.auditRecords()
            #expect(records.contains { $0["action"] as? String == "close" && $0["phase"] as? String == "intent" && $0["front_end"] as? String == "serve" })
            #expect(records.contains { $0["method"] as? String == "reset" && $0["fault_id"] as? Int == ft["fault_id"] as? Int })
        }

        @Test("no token, a wrong token, a browser, an oversized body, malformed JSON, an unknown key or session: each its documented status, nothing done")
        func refusals() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2"])
            defer { withExtendedLifetime(clients) {} }
            let serve = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server))
            let id = clients.sessions[0].id
            let cases: [(String, Int, () throws -> ServeProcess.Reply)] = [
                ("no token", 401, { try serve.request("POST", "/sessions/\(id)/close", token: .some(nil)) }),
                ("wrong token", 401, { try serve.request("POST", "/sessions/\(id)/kill", token: "not-the-token") }),
                ("browser", 403, { try serve.request("POST", "/sessions/\(id)/kill", headers: ["Origin: http://example.invalid"]) }),
                ("rebinding", 403, { try serve.request("GET", "/sessions", token: .some(nil), headers: ["Host: attacker.invalid"]) }),
                ("oversized", 413, { try serve.request("POST", "/sessions/\(id)/close", body: "{\"method\": \"" + String(repeating: "p", count: 8000) + "\"}") }),
                ("malformed", 400, { try serve.request("POST", "/sessions/\(id)/close", body: #"{"method": "#) }),
                ("not an object", 400, { try serve.request("POST", "/sessions/\(id)/close", body: "[1]") }),
                ("unknown key", 400, { try serve.request("POST", "/sessions/\(id)/close", body: #"{"methd": "pidfd"}"#) }),
                ("bad value", 400, { try serve.request("POST", "/sessions/\(id)/close", body: #"{"method": "hammer"}"#) }),
                ("bad type", 400, { try serve.request("POST", "/sessions/\(id)/faults", body: #"{"type": "loss", "percent": "lots"}"#) }),
                ("bad id", 400, { try serve.request("POST", "/sessions/x1/close") }),
                ("unknown session", 404, { try serve.request("POST", "/sessions/999999/close") }),
                ("unknown route", 404, { try serve.request("GET", "/proxies") }),
            ]
            for (name, status, request) in cases {
                let r = try request()
                #expect(r.status == status, "\(name): \(r.body)")
                #expect(r.json?["status"] as? Int == status, "\(name): the error shape {error, status}")
                #expect((r.json?["error"] as? String).map { !$0.isEmpty && !$0.contains("\n") } == true, "\(name): one line of reason")
            }
            #expect(try serve.request("POST", "/reset", body: "garbage").status == 400, "/reset takes no options")
            let headers = try run("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", "-X", "POST", "http://\(serve.address)/sessions/\(id)/kill"]).stdout
            #expect(headers.lowercased().contains("www-authenticate: bearer"), "\(headers)")
            #expect(try serve.metrics()["myconn_http_unauthorized_total"] == 3)
            let records = try serve.auditRecords()
            #expect(!records.contains { ($0["phase"] as? String) == "intent" }, "nothing was acted on")
            #expect(records.filter { $0["outcome"] as? String == "unauthorized" }.count == 3, "each bad token is on record")
            #expect(!records.contains { ($0["message"] as? String)?.contains(serve.token) == true }, "the token is never written")
            let ids = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) }
            for s in clients.sessions { #expect(ids.contains(s.id), "session \(s.id) untouched") }
            #expect(serve.terminate() == 0)

            // Without --token-file every action is refused; reads stay open on loopback.
            let open = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server), withToken: false, name: "open")
            let refused = try open.request("POST", "/sessions/\(id)/kill", token: .some(nil))
            #expect(refused.status == 403, "\(refused.body)")
            #expect((refused.json?["error"] as? String)?.contains("--token-file") == true)
            #expect(try open.request("GET", "/metrics", token: .some(nil)).status == 200)
            #expect(open.terminate() == 0)
            // Any other address needs a token file to start at all.
            let wide = try myconn(["serve", "--listen", "0.0.0.0:0"] + Self.connection(server))
            expectOneLineFailure(wide, status: 64, mentioning: ["--token-file"])
        }

        @Test("--listen unix:PATH: a socket of mode 0660; reads open there, actions need the token; the socket file goes at exit")
        func unixListener() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"])
            defer { withExtendedLifetime(clients) {} }
            let path = server.dir.appendingPathComponent("serve.sock").path
            let serve = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server), listen: "unix:\(path)")
            #expect(serve.address == "unix:\(path)")
            var st = stat()
            #expect(stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK)
            #expect(st.st_mode & 0o777 == 0o660, "mode \(String(st.st_mode & 0o777, radix: 8))")
            func curl(_ args: [String]) throws -> String {
                try run("/usr/bin/curl", ["-s", "--unix-socket", path, "-w", "\n%{http_code}"] + args).stdout
            }
            #expect(try curl(["http://localhost/metrics"]).hasSuffix("\n200"))
            #expect(try curl(["-X", "POST", "http://localhost/sessions/\(clients.sessions[0].id)/kill"]).hasSuffix("\n401"))
            #expect(try curl(["-X", "POST", "-d", #"{"dry_run": true}"#, "-H", "Authorization: Bearer \(serve.token)",
                              "http://localhost/sessions/\(clients.sessions[0].id)/kill"]).hasSuffix("\n200"))
            #expect(serve.terminate() == 0)
            #expect(access(path, F_OK) != 0, "the socket file is removed at exit")
            // A stale socket file (its server gone) is replaced; a live one is refused.
            let again = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server), listen: "unix:\(path)", name: "again")
            let third = try myconn(["serve", "--listen", "unix:\(path)", "--audit-log", server.dir.appendingPathComponent("third.log").path] + Self.connection(server))
            expectOneLineFailure(third, status: 64, mentioning: ["another server answers there"])
            #expect(again.terminate() == 0)
        }

        @Test("SIGTERM during an action: the action completes, its reply and outcome record are whole, and serve exits 0")
        func sigtermMidAction() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2"])
            defer { withExtendedLifetime(clients) {} }
            let serve = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server))
            let victim = clients.sessions[0].id
            // A blackholed client: the probe waits for its keepalives to go unanswered (seconds).
            let f = try serve.request("POST", "/sessions/\(victim)/faults", body: #"{"type": "blackhole", "for": "20s"}"#)
            #expect(f.status == 200, "\(f.body)")
            defer { _ = try? myconn(["fault", "--heal", "--all", "--pid", String(server.pid), "--yes", "--audit-log", serve.audit.path]) }
            let reply = Locked<ServeProcess.Reply?>(nil)
            let thread = Thread {
                reply.set(try? serve.request("POST", "/sessions/\(victim)/probe", body: #"{"timeout": 8}"#))
            }
            thread.start()
            var started = false
            for _ in 0..<200 {
                if try serve.auditRecords().contains(where: { $0["action"] as? String == "probe" && $0["phase"] as? String == "intent" }) { started = true; break }
                usleep(10_000)
            }
            #expect(started, "the probe began")
            #expect(reply.get() == nil, "SIGTERM comes while the probe is in flight")
            let sentAt = Date()
            let status = serve.terminate(within: 40)
            #expect(Date().timeIntervalSince(sentAt) > 2, "serve waited for the probe before it exited")
            #expect(status == 0, "serve exits 0 after SIGTERM")
            for _ in 0..<200 where reply.get() == nil { usleep(50_000) }
            let r = try #require(reply.get(), "the request in flight got its answer")
            #expect(r.status == 200, "\(r.body)")
            let t = try #require((r.json?["targets"] as? [[String: Any]])?.first)
            // A blackholed client never acknowledges: dead once the kernel gives up, or no verdict
            // within the timeout (the retransmission backoff); either way the probe ran to its end.
            #expect(["dead", "no-verdict"].contains(t["verdict"] as? String ?? ""), "\(t)")
            #expect(t["options_restored"] as? Bool == true, "the probe put mysqld's socket options back")
            #expect((t["elapsed_ms"] as? Int ?? 0) >= 2000, "it was not cut short")
            let records = try serve.auditRecords()
            #expect(records.contains { $0["action"] as? String == "probe" && $0["phase"] as? String == "outcome" && $0["verdict"] as? String == t["verdict"] as? String })
            let ids = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) }
            #expect(ids.contains(clients.sessions[1].id), "the other session is untouched")
        }

        /// NFQUEUE rules in mysqld's namespace (iptables-nft's, in table ip mangle).
        static func queueRules() throws -> Int {
            try run("/usr/sbin/iptables", ["-w", "-t", "mangle", "-S"]).stdout.components(separatedBy: "NFQUEUE").count - 1
        }

        @Test("a latency through the API holds one session's replies, its neighbour keeps its pace; DELETE heals one, SIGTERM heals the other (no kernel expiry) and exits 0")
        func latency() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:3"], pauseMilliseconds: 100)
            let serve = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server))
            let (first, second, neighbour) = (clients.sessions[0].id, clients.sessions[1].id, clients.sessions[2].id)
            let a = try serve.request("POST", "/sessions/\(first)/faults", body: #"{"type": "latency", "latency": 300, "stream": "downstream"}"#)
            #expect(a.status == 200, "\(a.body)")
            let at = try #require((a.json?["targets"] as? [[String: Any]])?.first)
            #expect(at["fault"] as? String == "delay:300" && at["direction"] as? String == "to-client" && at["queue"] is Int, "\(at)")
            #expect(at["outcome"] as? String == "holding")
            let b = try serve.request("POST", "/sessions/\(second)/faults", body: #"{"type": "delay", "latency": 300, "jitter": 50, "for": "60s"}"#)
            #expect(b.status == 200, "\(b.body)")
            let listed = try serve.request("GET", "/faults", token: .some(nil))
            #expect((listed.json?["delays"] as? [[String: Any]])?.count == 2, "\(listed.body)")
            #expect(try Self.queueRules() == 3, "one rule for the first (to the client), two for the second (both ways)")
            usleep(1_500_000)
            let firstID = at["delay_id"] as? Int ?? -1
            let healed = try serve.request("DELETE", "/faults/delay-\(firstID)")
            #expect(healed.status == 200, "\(healed.body)")
            #expect((healed.json?["delays_ended"] as? [[String: Any]])?.first?["session_id"] as? Int == Int(first))
            #expect(try Self.queueRules() == 2)
            #expect(try serve.request("DELETE", "/faults/delay-\(firstID)").status == 404, "healed once")
            #expect(serve.terminate() == 0, "SIGTERM: exit 0")
            #expect(try Self.queueRules() == 0, "SIGTERM healed the delay that had no kernel expiry")
            let records = try serve.auditRecords().filter { $0["method"] as? String == "delay" && $0["phase"] as? String == "outcome" }
            #expect(records.count == 2)
            #expect(records.allSatisfy { ($0["ended"] as? String)?.hasPrefix("healed") == true && ($0["packets"] as? Int ?? 0) > 0 }, "\(records)")
            let summaries = clients.finish()
            for id in [first, second] {
                #expect(summaries[id]?.errorCode == nil && (summaries[id]?.maxGapUs ?? 0) >= 250_000, "session \(id) slowed on its own connection: \(String(describing: summaries[id]))")
            }
            #expect(summaries[neighbour]?.errorCode == nil && (summaries[neighbour]?.maxGapUs ?? 999_999) < 200_000, "the neighbour kept its pace")
        }

        @Test("losing SQL (mysqld stopped): myconn_up 0 and the kernel's view; SQL back: up 1; serve never exits on its own")
        func losingSQL() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2", "tcp6:idle:1"])
            defer { withExtendedLifetime(clients) {} }
            let serve = try ServeProcess(server: server, arguments: ["--interval", "0.5", "--read-timeout", "1", "--connect-timeout", "1"] + Self.connection(server))
            #expect(try Self.waitMetrics(serve) { $0["myconn_up"] == 1 }["myconn_up"] == 1)
            kill(server.pid, SIGSTOP)
            var continued = false
            defer { if !continued { kill(server.pid, SIGCONT) } }
            let lost = try Self.waitMetrics(serve, tries: 150) { $0["myconn_up"] == 0 && $0["myconn_unmatched_sockets{tcp_state=\"ESTABLISHED\"}"] == 3 }
            #expect(lost["myconn_up"] == 0, "SQL is gone")
            #expect(lost["myconn_unmatched_sockets{tcp_state=\"ESTABLISHED\"}"] == 3, "the kernel still shows the three clients' sockets")
            let sessions = try serve.request("GET", "/sessions", token: .some(nil))
            #expect(sessions.status == 200)
            #expect((sessions.json?["server"] as? [String: Any])?["sql"] as? Bool == false, "the kernel-only document")
            kill(server.pid, SIGCONT)
            continued = true
            let back = try Self.waitMetrics(serve, tries: 150) { $0["myconn_up"] == 1 && $0["myconn_sessions{command=\"Sleep\",transport=\"tcp4\"}"] == 2 }
            #expect(back["myconn_up"] == 1, "SQL is back")
            #expect(back["myconn_sessions{command=\"Sleep\",transport=\"tcp4\"}"] == 2)
            #expect(serve.process.isRunning, "serve kept running throughout")
            #expect(serve.terminate() == 0)
        }

        @Test("--rules runs reap's policy inside serve: its acts in the metrics and the audit log, bystanders left alone")
        func reaperInside() throws {
            let server = try TestServer()
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT USAGE ON *.* TO 'app'@'%'")
            let app = try DemoClientsProcess(server: server, specs: ["tcp4:busy:1"], user: "app", password: "pw", sleepSeconds: 600)
            let root = try DemoClientsProcess(server: server, specs: ["tcp4:busy:1"], sleepSeconds: 600)
            defer { withExtendedLifetime((app, root)) {} }
            let rules = server.dir.appendingPathComponent("serve.rules")
            try "busy-time 0\nmatch-user app\n".write(to: rules, atomically: true, encoding: .utf8)
            let serve = try ServeProcess(server: server, arguments: ["--interval", "0.5", "--rules", rules.path, "--reap", "kill"] + Self.connection(server))
            let m = try Self.waitMetrics(serve) { ($0["myconn_reap_decisions_total{decision=\"acted\"}"] ?? 0) >= 1 }
            #expect(m["myconn_reap_decisions_total{decision=\"acted\"}"] == 1)
            #expect(m["myconn_actions_total{action=\"kill\",method=\"sql\",outcome=\"done\"}"] == 1)
            let ids = try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) }
            #expect(!ids.contains(app.sessions[0].id), "app's statement's session is gone")
            #expect(ids.contains(root.sessions[0].id), "root's is not app's: left alone")
            #expect(serve.terminate() == 0)
            let records = try serve.auditRecords()
            #expect(records.contains { $0["front_end"] as? String == "reap" && $0["session_id"] as? Int == Int(app.sessions[0].id) && $0["phase"] as? String == "outcome" })
        }
    }
}
