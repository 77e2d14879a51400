import Foundation

/// `myconn-demo-clients` holding sessions; they end when this object goes (stdin closed, then SIGTERM).
final class DemoClientsProcess {
    struct Session {
        var id: UInt64
        var transport: String
        /// The client's own address (TCP) as the client sees it.
        var local: String
        /// The client's socket inode (to find the server end of a unix connection).
        var inode: UInt64
    }

    /// What a `loop` or `secret` session reported when the clients were finished.
    struct Summary {
        var ok: Int
        var wrongRows: Int
        /// The client error code of the first failure, if any.
        var errorCode: String?
        /// When it failed (ms since the epoch).
        var errorAtMs: Int64?
        /// The `secret` session's second column, if its query completed.
        var result: String?
        /// A `loop` session's longest time between two completed queries, microseconds.
        var maxGapUs: Int64 = 0
    }

    let process = Process()
    let stdin = Pipe()
    private(set) var sessions: [Session] = []
    private var output: FileHandle?
    private var rest = Data()

    /// - Parameter specs: `TRANSPORT:KIND:COUNT` as `myconn-demo-clients --sessions` takes them.
    /// - Parameters:
    ///   - netns: run the clients inside this `ip netns` (a test host), reaching `host4`.
    init(server: TestServer, specs: [String], user: String = "root", password: String? = nil,
         sleepSeconds: Int? = nil, netns: String? = nil, host4: String? = nil, database: String? = nil, program: String? = nil,
         pauseMilliseconds: Int? = nil) throws {
        var args = ["--port", String(server.port), "--socket", server.socketPath, "--user", user]
        if let database { args += ["--database", database] }
        if let program { args += ["--program", program] }
        if let pauseMilliseconds { args += ["--pause-ms", String(pauseMilliseconds)] }
        if let host4 { args += ["--host4", host4] }
        if let sleepSeconds { args += ["--sleep", String(sleepSeconds)] }
        if let password { args += ["--password", password] }
        for s in specs { args += ["--sessions", s] }
        let bin = Self.binary
        if let netns {
            try launch("/usr/sbin/ip", ["netns", "exec", netns, bin] + args)
        } else if server.ownNetworkNamespace {
            try launch(server.netnsPrefix[0], Array(server.netnsPrefix.dropFirst()) + [bin] + args)
        } else {
            try launch(bin, args)
        }
    }

    /// Clients of a server this suite did not start (a container's, through a published port):
    /// `arguments` as `myconn-demo-clients` takes them.
    init(arguments: [String]) throws {
        try launch(Self.binary, arguments)
    }

    static var binary: String { productsDir.appendingPathComponent("myconn-demo-clients").path }

    private func launch(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = stdin
        try process.run()
        var buffer = Data()
        let handle = out.fileHandleForReading
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { throw TestFailure("myconn-demo-clients ended before it was ready") }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let ready = text.range(of: "ready\n") {
                rest = Data(text[ready.upperBound...].utf8)
                output = handle
                for line in text[..<ready.lowerBound].split(separator: "\n") {
                    let f = line.split(separator: " ")
                    sessions.append(Session(id: UInt64(f[0])!, transport: String(f[1]), local: String(f[2]), inode: UInt64(f[3])!))
                }
                break
            }
        }
        // Busy sessions have sent SELECT SLEEP; give the server a moment to be inside it.
        usleep(200_000)
    }

    /// Closes the clients' stdin and collects their SUMMARY lines, by session id.
    func finish() -> [UInt64: Summary] {
        try? stdin.fileHandleForWriting.close()
        var data = rest
        if let output { data.append(output.readDataToEndOfFile()) }
        process.waitUntilExit()
        var out: [UInt64: Summary] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("SUMMARY ") {
            let f = line.split(separator: " ", maxSplits: 7).map(String.init)
            guard f.count == 8, let id = UInt64(f[1]) else { continue }
            out[id] = Summary(ok: Int(f[2]) ?? 0, wrongRows: Int(f[3]) ?? 0, errorCode: f[4] == "-" ? nil : f[4],
                              errorAtMs: Int64(f[5]), result: f[7] == "-" ? nil : f[7], maxGapUs: Int64(f[6]) ?? 0)
        }
        return out
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning {
            // SIGKILL: a child of a test worker thread may have SIGTERM blocked.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
