import Foundation
import Glibc
@testable import MyConnCore
import SystemPackage
import Testing

/// The audit log's file: where it may be opened, with which modes, and that concurrent writers'
/// records stay whole. Real files in a temporary directory; no root needed.
@Suite("the audit log's file: no symlink, modes, named directories, whole records")
final class AuditLogTests {
    let dir: String

    init() throws {
        var template = Array("/tmp/myconn-auditlog-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Errno(rawValue: errno) }
        dir = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    @Test("a symbolic link as the file is refused (ELOOP), and its target is not written")
    func symlinkRefused() throws {
        let target = dir + "/elsewhere"
        FileManager.default.createFile(atPath: target, contents: Data())
        #expect(symlink(target, dir + "/audit.log") == 0)
        #expect(throws: Errno.tooManySymbolicLinkLevels) { try AuditLog(path: dir + "/audit.log") }
        #expect(AuditLog.explain(.tooManySymbolicLinkLevels).contains("symbolic link"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)).isEmpty)
    }

    @Test("a named path's missing directory is not made; the default path's are, 0700, the file 0600")
    func directories() throws {
        #expect(throws: Errno.noSuchFileOrDirectory) { try AuditLog(path: dir + "/missing/audit.log") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/missing"))
        let nested = dir + "/a/b/audit.log"
        let log = try AuditLog(path: nested, createDirectories: true)
        try log.append(#"{"x":1}"#)
        #expect(mode(dir + "/a") == 0o700 && mode(dir + "/a/b") == 0o700)
        #expect(mode(nested) == 0o600)
    }

    @Test("an existing file's mode is kept (0640 stays 0640)")
    func existingMode() throws {
        let path = dir + "/kept.log"
        #expect(creat(path, 0o640) >= 0)
        #expect(chmod(path, 0o640) == 0)
        try AuditLog(path: path).append(#"{"x":1}"#)
        #expect(mode(path) == 0o640)
    }

    @Test("a FIFO nobody reads is refused at once (ENXIO), not waited on")
    func fifo() throws {
        let path = dir + "/fifo"
        #expect(mkfifo(path, 0o600) == 0)
        #expect(throws: Errno.noSuchAddressOrDevice) { try AuditLog(path: path) }
    }

    @Test("two writers on their own open files (as two processes) append 2 x 2,000 multi-record steps: every line whole")
    func concurrentAppends() throws {
        let path = dir + "/shared.log"
        let a = try AuditLog(path: path), b = try AuditLog(path: path)
        // Records a few hundred bytes long, three to a step, as an intent write for three targets.
        let pad = String(repeating: "p", count: 300)
        DispatchQueue.concurrentPerform(iterations: 2) { w in
            let log = w == 0 ? a : b
            for i in 0..<2_000 {
                try? log.append((0..<3).map { #"{"writer":\#(w),"step":\#(i),"n":\#($0),"pad":"\#(pad)"}"# })
            }
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 12_000)
        var steps = Set<String>()
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let o = try #require(object)
            steps.insert("\(o["writer"]!)-\(o["step"]!)-\(o["n"]!)")
        }
        #expect(steps.count == 12_000)
    }
}
