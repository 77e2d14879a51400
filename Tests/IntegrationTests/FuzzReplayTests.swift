import Foundation
import Testing

/// The fuzz targets' own checks (Sources/myconn-fuzz/Targets.swift) in the ordinary build,
/// without libFuzzer: its replayer runs each kept finding, and the recorded fixtures of the
/// targets added last, once through its target. A broken check stops the replayer
/// (`fatalError`). The campaign itself is `scripts/fuzz.sh`, not part of CI's run.
@Suite("fuzz targets' checks over the kept findings and recorded inputs (ordinary build, no root)")
struct FuzzReplayTests {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    static func replay(_ target: String, _ dir: URL) throws -> Int {
        let r = try productUnpiped("myconn-fuzz", [target, dir.path])
        #expect(r.status == 0, "\(target): \(r.stderr)")
        let count = r.stdout.hasPrefix("\(target): ") ? Int(r.stdout.dropFirst(target.count + 2).prefix { $0.isNumber }) : nil
        return try #require(count, "the replayer's count line: \(r.stdout)")
    }

    @Test("every kept finding replays through its target with every check holding")
    func findings() throws {
        let dir = Self.tests.appendingPathComponent("Fuzz/findings")
        let targets = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path, isDirectory: &isDir) && isDir.boolValue
        }
        #expect(targets.contains("unix-diag"))
        for t in targets { #expect(try Self.replay(t, dir.appendingPathComponent(t)) >= 1, "\(t) holds inputs") }
    }

    @Test("reap's recording reader and the JSON grammar check over reap's recorded fixtures: each file once, no check broken",
          arguments: ["reap-recording", "json-syntax"])
    func recorded(target: String) throws {
        let dir = Self.tests.appendingPathComponent("MyConnCoreTests/Fixtures/reap")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }
        #expect(try Self.replay(target, dir) == files.count && files.count >= 10)
    }
}
