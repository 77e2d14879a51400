import Foundation

/// Reads a recorded fixture beside this file (see Fixtures/README.md for where each came from).
func fixture(_ name: String) throws -> String {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    return try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
}
