#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
@testable import MyConnCore
import Testing

/// `--container` without a Docker engine: replies recorded from a real dockerd (Fixtures/docker-
/// engine/README.md), and a stand-in engine on a unix socket of the test's own.
@Suite("container engine API: inspect replies, names, the socket path (no root, no engine)")
struct DockerEngineTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/docker-engine/\(name)")
        return Array(try Data(contentsOf: url))
    }

    @Test("a running container gives its host pid; a stopped one and a missing one say so")
    func inspectReplies() throws {
        let running = try DockerEngine.parseInspect(Self.fixture("inspect-running.http"), name: "myconn-try-db")
        #expect(running.pid == 14889)
        #expect(running.running)
        #expect(running.status == "running")
        #expect(running.name == "myconn-try-db", "the engine's leading / is dropped")
        #expect(running.id.hasPrefix("13e39b495da8"))
        let exited = try DockerEngine.parseInspect(Self.fixture("inspect-exited.http"), name: "myconn-try-db")
        #expect(!exited.running)
        #expect(exited.pid == 0)
        #expect(exited.status == "exited")
        #expect(throws: ContainerError.noSuchContainer("nope")) {
            try DockerEngine.parseInspect(Self.fixture("inspect-missing.http"), name: "nope")
        }
    }

    @Test("a reply that is not the Engine API's is refused, not guessed at")
    func badReplies() {
        #expect(throws: ContainerError.badReply("no HTTP header")) { try DockerEngine.parseInspect(Array("garbage".utf8), name: "x") }
        #expect(throws: ContainerError.badReply("not an HTTP reply: SSH-2.0-OpenSSH_9.2")) {
            try DockerEngine.parseInspect(Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8), name: "x")
        }
        let noPid = Array("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Id\":\"a\",\"Name\":\"/a\"}".utf8)
        #expect(throws: ContainerError.self) { try DockerEngine.parseInspect(noPid, name: "a") }
        let error = Array("HTTP/1.0 500 Internal Server Error\r\n\r\n{\"message\":\"boom\"}".utf8)
        #expect(throws: ContainerError.badReply("boom")) { try DockerEngine.parseInspect(error, name: "a") }
    }

    @Test("names: Docker's rule, so nothing but a name reaches the request path")
    func names() {
        for ok in ["db", "myconn-try-db", "13e39b495da8", "a_b.c-d"] { #expect(DockerEngine.isValidName(ok), "\(ok)") }
        for bad in ["", "-db", "a/b", "../containers", "a?b", "a b", "db%2F", String(repeating: "a", count: 129)] {
            #expect(!DockerEngine.isValidName(bad), "\(bad)")
        }
    }

    @Test("the engine socket: --docker-socket, else DOCKER_HOST=unix://, else /var/run/docker.sock")
    func socketPath() {
        #expect(DockerEngine.socketPath(option: "/x.sock", dockerHost: "unix:///y.sock") == "/x.sock")
        #expect(DockerEngine.socketPath(option: nil, dockerHost: "unix:///run/podman/podman.sock") == "/run/podman/podman.sock")
        #expect(DockerEngine.socketPath(option: nil, dockerHost: "tcp://127.0.0.1:2375") == "/var/run/docker.sock")
        #expect(DockerEngine.socketPath(option: nil, dockerHost: nil) == "/var/run/docker.sock")
    }

    @Test("mysqld's --socket in its command line (the last one wins, as mysqld reads it)")
    func socketOption() {
        #expect(ContainerTarget.socketOption("mariadbd\0--user=mysql\0--socket=/run/mysqld/mysqld.sock\0") == "/run/mysqld/mysqld.sock")
        #expect(ContainerTarget.socketOption("mysqld\0--socket\0/tmp/a.sock\0--socket=/tmp/b.sock\0") == "/tmp/b.sock")
        #expect(ContainerTarget.socketOption("mysqld\0--port=3306\0") == nil)
        #expect(ContainerTarget.socketOption("mysqld\0--socket=relative.sock\0") == nil, "only an absolute path")
    }

    @Test("inspect over a unix socket: the request sent, the recorded reply read to its end")
    func overASocket() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-engine-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("engine.sock").path
        let reply = try Self.fixture("inspect-running.http")
        let engine = try FakeEngine(path: path, reply: reply)
        let info = try DockerEngine(socketPath: path).inspect("myconn-try-db")
        #expect(info.pid == 14889)
        let request = String(decoding: engine.received(), as: UTF8.self)
        #expect(request.hasPrefix("GET /containers/myconn-try-db/json HTTP/1.0\r\n"), "\(request)")
        #expect(throws: ContainerError.self) { try DockerEngine(socketPath: path + ".none").inspect("db") }
    }
}

/// A stand-in engine: accepts one connection on a unix socket, reads the request, answers
/// `reply` and closes.
final class FakeEngine: @unchecked Sendable {
    private let listener: Int32
    private var request: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    init(path: String, reply: [UInt8]) throws {
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else { throw TestError("cannot listen on \(path): errno \(errno)") }
        let fd = listener
        Thread.detachNewThread { [self] in
            let c = accept(fd, nil, nil)
            guard c >= 0 else { done.signal(); return }
            var buf = [UInt8](repeating: 0, count: 4096)
            // The request ends with an empty line.
            while !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                request += buf[0..<n]
            }
            _ = reply.withUnsafeBytes { send(c, $0.baseAddress, $0.count, 0) }
            close(c)
            done.signal()
        }
    }

    func received() -> [UInt8] {
        done.wait()
        return request
    }

    deinit { close(listener) }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
