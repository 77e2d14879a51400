import Foundation
import Testing

/// Real-server tests need root: mariadbd runs as root, and reading its /proc/<pid>/fd,
/// network namespaces and `runuser` all do. In CI everything runs as root.
let isRoot = getuid() == 0
let needsRoot: Comment = "needs root (mariadbd --user=root, /proc/<pid>/fd of another process, network namespaces)"

/// The directory holding the built products (`myconn`, `myconn-demo-clients`) beside this test binary.
let productsDir: URL = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // On Linux the test binary is <products>/myconnPackageTests.xctest; be tolerant of bundles.
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("myconn").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir
}()

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion and captures its output. `started` is called with the child's
/// pid once it runs (to signal it, say); `signalled` says whether a signal ended it.
@discardableResult
func run(_ path: String, _ args: [String], environment: [String: String]? = nil, started: ((Int32) -> Void)? = nil,
         signalled: UnsafeMutablePointer<Bool>? = nil) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let environment { p.environment = environment }
    // stderr goes to a file, stdout through a pipe read to its end: neither can block the child.
    let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-stderr-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: errPath.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errPath) }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = try FileHandle(forWritingTo: errPath)
    p.standardInput = FileHandle.nullDevice
    try p.run()
    started?(p.processIdentifier)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    signalled?.pointee = p.terminationReason == .uncaughtSignal
    let errData = (try? Data(contentsOf: errPath)) ?? Data()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs `myconn` with the given arguments.
func myconn(_ args: [String], environment: [String: String]? = nil) throws -> RunResult {
    try run(productsDir.appendingPathComponent("myconn").path, args, environment: environment)
}

/// A TCP port nobody listens on right now (the kernel's choice for an ephemeral bind).
func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return UInt16(bigEndian: addr.sin_port)
}

/// Parses `myconn list --json`.
func parseJSON(_ text: String) throws -> [String: Any] {
    guard let obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw TestFailure("not a JSON object: \(text.prefix(200))")
    }
    return obj
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Every real-server suite nests here, so they run one at a time: a child spawned by one test
/// would otherwise inherit the pipe ends of another test's child (Foundation's Process does not
/// close them), and each suite's mariadbd gets the machine's two cores to itself.
@Suite("Real mariadbd", .serialized, .enabled(if: isRoot, needsRoot))
struct RealServer {}

/// Milliseconds since the epoch, to compare with what client processes report.
func nowMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
