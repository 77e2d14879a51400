import Foundation

/// A value shared with a thread the test started.
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
}

/// Debian's `prometheus`, on a loopback port of its own, scraping one target every second.
final class PrometheusProcess {
    let process = Process()
    let port = freePort()

    /// - Parameter tokenFile: the bearer token's file, for a serve that wants it on reads too.
    init(dir: URL, target: String, tokenFile: URL? = nil) throws {
        let config = dir.appendingPathComponent("prometheus.yml")
        let auth = tokenFile.map { "\n    authorization:\n      type: Bearer\n      credentials_file: \($0.path)" } ?? ""
        try """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        scrape_configs:
          - job_name: myconn\(auth)
            static_configs:
              - targets: ['\(target)']
        """.write(to: config, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        process.arguments = ["--config.file=\(config.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("prometheus-data").path)",
                             "--web.listen-address=127.0.0.1:\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The first sample's value of an instant query; nil when it has none (yet).
    func value(_ query: String) throws -> Double? {
        let r = try run("/usr/bin/curl", ["-s", "--max-time", "5", "-G", "--data-urlencode", "query=\(query)", "http://127.0.0.1:\(port)/api/v1/query"])
        guard r.status == 0, let d = try? parseJSON(r.stdout), let data = d["data"] as? [String: Any],
              let result = data["result"] as? [[String: Any]], let first = result.first, let v = first["value"] as? [Any],
              v.count == 2, let text = v[1] as? String else { return nil }
        return Double(text)
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    deinit { stop() }
}
