import Foundation
import SystemPackage
import Testing
@testable import ProcFS

/// ProcReader against a /proc tree laid out from recorded files (fd links as dangling symlinks,
/// exactly as readlink(2) returns them in /proc).
@Suite("ProcReader rooted at a recorded tree")
struct ProcReaderTests {
    @Test("fd table, net files and the missing-process error")
    func recordedTree() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-proc-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let pid = root.appendingPathComponent("2897")
        try FileManager.default.createDirectory(at: pid.appendingPathComponent("fd"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: pid.appendingPathComponent("net"), withIntermediateDirectories: true)
        try fixture("mariadbd-net-tcp").write(to: pid.appendingPathComponent("net/tcp"), atomically: true, encoding: .utf8)
        try fixture("mariadbd-net-tcp6").write(to: pid.appendingPathComponent("net/tcp6"), atomically: true, encoding: .utf8)
        try fixture("mariadbd-net-unix").write(to: pid.appendingPathComponent("net/unix"), atomically: true, encoding: .utf8)
        for (fd, link) in [(22, "socket:[7340]"), (44, "socket:[19803]"), (3, "/tmp/scratch/d/ibdata1"), (9, "anon_inode:[io_uring]")] {
            try FileManager.default.createSymbolicLink(atPath: pid.appendingPathComponent("fd/\(fd)").path,
                                                       withDestinationPath: link)
        }
        let reader = ProcReader(procRoot: FilePath(root.path))
        let table = try reader.fdTable(pid: 2897)
        #expect(table == [22: .socket(inode: 7340), 44: .socket(inode: 19803),
                          3: .path("/tmp/scratch/d/ibdata1", deleted: false), 9: .anonInode("io_uring")])
        #expect(try reader.fdTarget(pid: 2897, fd: 44) == .socket(inode: 19803))
        #expect(try reader.tcpSockets(pid: 2897, family: .tcp4).contains { $0.inode == 19803 })
        #expect(try reader.tcpSockets(pid: 2897, family: .tcp6).contains { $0.inode == 7341 })
        #expect(try reader.unixSockets(pid: 2897).contains { $0.inode == 7342 && $0.isListening })
        #expect(reader.pids() == [2897])
        #expect(throws: ProcError.processGone(pid: 1)) { try reader.fdTable(pid: 1) }
        #expect(throws: ProcError.processGone(pid: 1)) { try reader.tcpSockets(pid: 1, family: .tcp4) }
    }

    @Test("the live /proc: our own fd table holds a socket we open, by its inode")
    func liveSelf() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let table = try ProcReader().fdTable(pid: getpid())
        #expect(table[fd] == .socket(inode: UInt64(st.st_ino)))
    }

    @Test("the live /proc: our own age is positive and below the time since boot")
    func liveAge() throws {
        let age = try #require(ProcReader().processAge(pid: getpid()))
        let uptime = try #require(Double(String(contentsOfFile: "/proc/uptime", encoding: .utf8).prefix { $0 != " " }))
        #expect(age >= 0 && age <= uptime)
    }
}
