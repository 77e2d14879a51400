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

    let process = Process()
    let stdin = Pipe()
    private(set) var sessions: [Session] = []

    /// - Parameter specs: `TRANSPORT:KIND:COUNT` as `myconn-demo-clients --sessions` takes them.
    init(server: TestServer, specs: [String], user: String = "root", password: String? = nil) throws {
        var args = ["--port", String(server.port), "--socket", server.socketPath, "--user", user]
        if let password { args += ["--password", password] }
        for s in specs { args += ["--sessions", s] }
        let bin = productsDir.appendingPathComponent("myconn-demo-clients").path
        if server.ownNetworkNamespace {
            process.executableURL = URL(fileURLWithPath: server.netnsPrefix[0])
            process.arguments = Array(server.netnsPrefix.dropFirst()) + [bin] + args
        } else {
            process.executableURL = URL(fileURLWithPath: bin)
            process.arguments = args
        }
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
            if text.contains("ready\n") {
                for line in text.split(separator: "\n") where line != "ready" {
                    let f = line.split(separator: " ")
                    sessions.append(Session(id: UInt64(f[0])!, transport: String(f[1]), local: String(f[2]), inode: UInt64(f[3])!))
                }
                break
            }
        }
        // Busy sessions have sent SELECT SLEEP; give the server a moment to be inside it.
        usleep(200_000)
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
