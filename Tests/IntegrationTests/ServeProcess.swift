import Foundation

/// `myconn serve` as a test runs it (its fields are set once, at init: a thread may send requests): on a port the kernel chose on loopback (read from its first
/// line), with a token file of its own and an audit log in the server's directory; SIGTERM and
/// a wait in `deinit`, so it stops when a test fails too. Requests go through curl.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let address: String
    let token = "test-token-" + UUID().uuidString
    let audit: URL
    let out: URL
    let err: URL

    /// - Parameter arguments: after `serve`'s own (`--interval 1`, connection options, ...).
    init(server: TestServer, arguments: [String], withToken: Bool = true, listen: String = "127.0.0.1:0", name: String = "serve") throws {
        audit = server.dir.appendingPathComponent("\(name).audit.log")
        out = server.dir.appendingPathComponent("\(name).out")
        err = server.dir.appendingPathComponent("\(name).err")
        for f in [out, err] { _ = FileManager.default.createFile(atPath: f.path, contents: nil) }
        var args = ["serve", "--listen", listen, "--audit-log", audit.path]
        if withToken {
            let file = server.dir.appendingPathComponent("\(name).token")
            try (token + "\n").write(to: file, atomically: true, encoding: .utf8)
            chmod(file.path, 0o600)
            args += ["--token-file", file.path]
        }
        process.executableURL = productsDir.appendingPathComponent("myconn")
        process.arguments = args + arguments
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var found: String?
        for _ in 0..<600 {
            let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("myconn serve: listening on ") }) {
                found = String(line.dropFirst("myconn serve: listening on ".count))
                break
            }
            if !process.isRunning { break }
            usleep(50_000)
        }
        guard let found else {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            throw TestFailure("serve did not start: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        }
        address = found
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var port: Int { Int(address.split(separator: ":").last ?? "0") ?? 0 }
    var stderr: String { (try? String(contentsOf: err, encoding: .utf8)) ?? "" }

    var api: ServeAPI { ServeAPI(address: address, token: token) }
    typealias Reply = ServeAPI.Reply

    func request(_ method: String, _ path: String, body: String? = nil, token: String?? = .none,
                 headers: [String] = []) throws -> Reply {
        try api.request(method, path, body: body, token: token, headers: headers)
    }

    func metrics() throws -> [String: Double] { try api.metrics(token: .some(nil)) }

    /// The audit log's records.
    func auditRecords() throws -> [[String: Any]] {
        let text = (try? String(contentsOf: audit, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try parseJSON(String($0)) }
    }

    /// SIGTERM, then the exit status (nil: it did not exit within `seconds`).
    func terminate(within seconds: Double = 30) -> Int32? {
        kill(process.processIdentifier, SIGTERM)
        let until = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < until { usleep(20_000) }
        if process.isRunning { return nil }
        return process.terminationStatus
    }
}

/// serve's API at `address`, through curl (a test's own client: nothing of myconn's).
struct ServeAPI: Sendable {
    let address: String
    let token: String

    struct Reply {
        var status: Int
        var body: String
        var json: [String: Any]? { try? parseJSON(body) }
    }

    /// One request; `token` `.some(nil)` sends none, `.some(t)` sends `Bearer t`, the default the right one.
    func request(_ method: String, _ path: String, body: String? = nil, token: String?? = .none,
                 headers: [String] = []) throws -> Reply {
        var args = ["-s", "-S", "-X", method, "-w", "\n%{http_code}", "--max-time", "60"]
        let bearer: String? = token ?? self.token
        if let bearer { args += ["-H", "Authorization: Bearer \(bearer)"] }
        for h in headers { args += ["-H", h] }
        if let body {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-test-body-\(UUID().uuidString)")
            try body.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            args += ["-H", "Content-Type: application/json", "--data-binary", "@\(file.path)"]
            return try send(args, path)
        }
        return try send(args, path)
    }

    private func send(_ args: [String], _ path: String) throws -> Reply {
        let r = try run("/usr/bin/curl", args + ["http://\(address)\(path)"])
        guard r.status == 0, let cut = r.stdout.lastIndex(of: "\n"), let code = Int(r.stdout[r.stdout.index(after: cut)...]) else {
            throw TestFailure("curl \(path) failed (\(r.status)): \(r.stderr)")
        }
        return Reply(status: code, body: String(r.stdout[..<cut]))
    }

    /// `/metrics` as `name{labels} value` lines, comments left out.
    func metrics(token: String?? = .none) throws -> [String: Double] {
        let r = try request("GET", "/metrics", token: token)
        var out: [String: Double] = [:]
        for line in r.body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = v
        }
        return out
    }
}
