import Foundation
import Testing

/// serve's documents checked against serve itself: the OpenAPI file, the Prometheus config.
extension RealServer.ServeTests {
    @Test("every answer of every endpoint, success and refusal, is one docs/serve-openapi.yaml documents (scripts/check-openapi.py: Debian's python3-jsonschema)")
    func openAPI() throws {
        let server = try TestServer()
        let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:5", "tcp4:abandon:1"], sleepSeconds: 30)
        defer { withExtendedLifetime(clients) {} }
        let serve = try ServeProcess(server: server, arguments: ["--interval", "1"] + Self.connection(server))
        _ = try Self.waitMetrics(serve) { $0["myconn_up"] == 1 }
        let ids = clients.sessions.map(\.id)
        var answers: [String] = []
        func record(_ method: String, _ template: String, _ path: String, body: String? = nil, token: String?? = .none,
                    headers: [String] = []) throws -> ServeProcess.Reply {
            let r = try serve.request(method, path, body: body, token: token, headers: headers)
            let line = try JSONSerialization.data(withJSONObject: ["method": method, "path": template, "status": r.status, "body": r.body])
            answers.append(String(decoding: line, as: UTF8.self))
            return r
        }
        _ = try record("GET", "/metrics", "/metrics")
        _ = try record("GET", "/sessions", "/sessions")
        _ = try record("GET", "/zombies", "/zombies")
        _ = try record("GET", "/sessions/{id}", "/sessions/\(ids[0])")
        _ = try record("GET", "/sessions/{id}", "/sessions/424242")
        for (verb, body) in [("kill", #"{"dry_run": true}"#), ("close", #"{"method": "ptrace", "dry_run": true}"#),
                             ("probe", #"{"dry_run": true}"#), ("faults", #"{"type": "loss", "percent": 5, "dry_run": true}"#),
                             ("faults", #"{"type": "latency", "latency": 10, "dry_run": true}"#)] {
            _ = try record("POST", "/sessions/{id}/\(verb)", "/sessions/\(ids[0])/\(verb)", body: body)
        }
        let f = try record("POST", "/sessions/{id}/faults", "/sessions/\(ids[1])/faults", body: #"{"type": "blackhole", "for": "30s"}"#)
        #expect(f.status == 200, "\(f.body)")
        let d = try record("POST", "/sessions/{id}/faults", "/sessions/\(ids[2])/faults", body: #"{"type": "latency", "latency": 20}"#)
        #expect(d.status == 200, "\(d.body)")
        _ = try record("POST", "/sessions/{id}/faults", "/sessions/\(ids[3])/faults", body: #"{"type": "half-close", "side": "read"}"#)
        _ = try record("GET", "/faults", "/faults")
        let faultID = ((f.json?["targets"] as? [[String: Any]])?.first?["fault_id"] as? Int) ?? -1
        _ = try record("DELETE", "/faults/{id}", "/faults/\(faultID)")
        _ = try record("DELETE", "/faults/{id}", "/faults/\(faultID)")
        _ = try record("DELETE", "/faults", "/faults")
        _ = try record("POST", "/reset", "/reset")
        let k = try record("POST", "/sessions/{id}/kill", "/sessions/\(ids[4])/kill", body: #"{"query": false}"#)
        #expect(k.status == 200, "\(k.body)")
        let again = try record("POST", "/sessions/{id}/kill", "/sessions/\(ids[4])/kill")
        #expect(again.status == 409, "refused: already gone, the last snapshot still has it: \(again.body)")
        _ = try record("POST", "/sessions/{id}/close", "/sessions/\(ids[0])/close", body: #"{"method": "destroy"}"#)
        _ = try record("POST", "/sessions/{id}/probe", "/sessions/\(ids[5])/probe", body: #"{"timeout": 5}"#)
        _ = try record("POST", "/sessions/{id}/close", "/sessions/999999/close")
        _ = try record("POST", "/sessions/{id}/close", "/sessions/\(ids[1])/close", token: .some(nil))
        _ = try record("POST", "/sessions/{id}/close", "/sessions/\(ids[1])/close", headers: ["Origin: http://example.invalid"])
        _ = try record("POST", "/sessions/{id}/close", "/sessions/\(ids[1])/close", body: #"{"x": 1}"#)
        _ = try record("POST", "/sessions/{id}/close", "/sessions/\(ids[1])/close", body: String(repeating: " ", count: 5000))
        _ = try record("POST", "/reset", "/reset", body: "[]")
        #expect(serve.terminate() == 0)
        let file = server.dir.appendingPathComponent("answers.jsonl")
        try (answers.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let check = try run("/usr/bin/python3", [repo.appendingPathComponent("scripts/check-openapi.py").path,
                                                 repo.appendingPathComponent("docs/serve-openapi.yaml").path, file.path])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        #expect(check.stdout.contains("checked \(answers.count) answers"), "\(check.stdout)")
    }

    @Test("docs/deploy/prometheus.yml passes promtool check config (its credentials_file pointed at a file of this test's)")
    func prometheusConfig() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-test-promcfg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let token = dir.appendingPathComponent("token")
        try "a-token-of-this-test\n".write(to: token, atomically: true, encoding: .utf8)
        let text = try String(contentsOf: repo.appendingPathComponent("docs/deploy/prometheus.yml"), encoding: .utf8)
        #expect(text.contains("credentials_file: /etc/prometheus/secrets/myconn/token"))
        let config = dir.appendingPathComponent("prometheus.yml")
        try text.replacingOccurrences(of: "/etc/prometheus/secrets/myconn/token", with: token.path).write(to: config, atomically: true, encoding: .utf8)
        let r = try run("/usr/bin/promtool", ["check", "config", config.path])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
    }
}
