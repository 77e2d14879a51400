import Foundation
import Testing

/// Runs `myconn` for the tests that need neither root nor a server, which run beside the
/// serialized real-server suites: output goes to files, not pipes, so a child another test
/// spawns meanwhile (Foundation's Process does not close inherited descriptors) can hold
/// nothing this test waits on; the test waits for the exit alone.
func myconnUnpiped(_ args: [String]) throws -> RunResult { try productUnpiped("myconn", args) }

/// ``myconnUnpiped(_:)`` for another built product (`myconn-fuzz`).
func productUnpiped(_ name: String, _ args: [String]) throws -> RunResult {
    let tmp = FileManager.default.temporaryDirectory
    let outPath = tmp.appendingPathComponent("myconn-stdout-\(UUID().uuidString)")
    let errPath = tmp.appendingPathComponent("myconn-stderr-\(UUID().uuidString)")
    for p in [outPath, errPath] { FileManager.default.createFile(atPath: p.path, contents: nil) }
    defer { for p in [outPath, errPath] { try? FileManager.default.removeItem(at: p) } }
    let p = Process()
    p.executableURL = productsDir.appendingPathComponent(name)
    p.arguments = args
    p.standardOutput = try FileHandle(forWritingTo: outPath)
    p.standardError = try FileHandle(forWritingTo: errPath)
    p.standardInput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus,
                     stdout: String(decoding: (try? Data(contentsOf: outPath)) ?? Data(), as: UTF8.self),
                     stderr: String(decoding: (try? Data(contentsOf: errPath)) ?? Data(), as: UTF8.self))
}
