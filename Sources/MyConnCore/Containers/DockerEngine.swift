import FoundationEssentials
import LinuxKernel
import SystemPackage

/// A container as its engine reports it (`GET /containers/NAME/json`).
public struct ContainerInfo: Sendable, Equatable {
    public var id: String
    /// Without the leading `/` the Engine API puts there.
    public var name: String
    /// `State.Status`: running, exited, paused, created...
    public var status: String
    public var running: Bool
    /// `State.Pid`: the container's main process as this host sees it (0 when not running).
    public var pid: Int32
}

/// Why a container could not be resolved.
public enum ContainerError: Error, Equatable, Sendable {
    /// A name with characters no container name or id has (so nothing reaches the engine's URL).
    case badName(String)
    /// The engine's socket could not be reached.
    case engineUnreachable(socket: String, reason: String)
    case noSuchContainer(String)
    case notRunning(name: String, status: String)
    /// The reply was not what the Engine API gives (another program on the socket?).
    case badReply(String)
}

/// The Docker Engine API (and podman's compatible one) over its unix socket: no docker CLI
/// needed. HTTP/1.0, so the reply is one body ending at the close, never chunked.
public struct DockerEngine: Sendable {
    public var socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// `--docker-socket`, else `DOCKER_HOST` when it is `unix://PATH`, else `/var/run/docker.sock`.
    public static func socketPath(option: String?, dockerHost: String?) -> String {
        if let option { return option }
        if let host = dockerHost, host.hasPrefix("unix://") { return String(host.dropFirst(7)) }
        return "/var/run/docker.sock"
    }

    /// Container names and ids: `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (Docker's rule), 1-128 characters.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 128, isAlnum(first) else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }

    static func isAlnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) }

    /// The running container `name` (a name or an id prefix, as `docker inspect` takes).
    public func inspect(_ name: String) throws(ContainerError) -> ContainerInfo {
        guard Self.isValidName(name) else { throw .badName(name) }
        let reply: [UInt8]
        do {
            let socket = try UnixStreamSocket(path: socketPath)
            try socket.writeAll(Self.request(path: "/containers/\(name)/json"))
            reply = try socket.readToEnd()
        } catch {
            throw .engineUnreachable(socket: socketPath, reason: "\(error)")
        }
        let info = try Self.parseInspect(reply, name: name)
        guard info.running, info.pid > 0 else { throw .notRunning(name: info.name, status: info.status) }
        return info
    }

    static func request(path: String) -> [UInt8] {
        Array("GET \(path) HTTP/1.0\r\nHost: docker\r\nUser-Agent: myconn\r\n\r\n".utf8)
    }

    /// The status code and body of an HTTP/1.x reply read to its end.
    static func parseHTTP(_ bytes: [UInt8]) throws(ContainerError) -> (status: Int, body: ArraySlice<UInt8>) {
        let crlf2: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(crlf2) }) else {
            throw .badReply("no HTTP header")
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .badReply("not an HTTP reply: \(statusLine.prefix(40))")
        }
        return (status, bytes[(end + 4)...])
    }

    private struct Inspect: Decodable {
        struct State: Decodable {
            var Status: String
            var Running: Bool
            var Pid: Int32
        }
        var Id: String
        var Name: String
        var State: State
    }

    private struct Message: Decodable {
        var message: String
    }

    /// Reads a `GET /containers/NAME/json` reply.
    static func parseInspect(_ reply: [UInt8], name: String) throws(ContainerError) -> ContainerInfo {
        let (status, body) = try parseHTTP(reply)
        switch status {
        case 200:
            do {
                let i = try JSONDecoder().decode(Inspect.self, from: Data(body))
                let shown = i.Name.hasPrefix("/") ? String(i.Name.dropFirst()) : i.Name
                return ContainerInfo(id: i.Id, name: shown, status: i.State.Status, running: i.State.Running, pid: i.State.Pid)
            } catch {
                throw .badReply("the container's description has no State.Pid: \(error)")
            }
        case 404:
            throw .noSuchContainer(name)
        default:
            let message = (try? JSONDecoder().decode(Message.self, from: Data(body)))?.message ?? "HTTP \(status)"
            throw .badReply(message)
        }
    }
}
