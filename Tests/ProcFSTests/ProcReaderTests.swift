import Foundation
import SystemPackage
import Testing
@testable import ProcFS
import SocketModel

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

    @Test("namespace links, and thread ids of a process in a pid namespace of its own from task status")
    func namespaces() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("myconn-proc-ns-\(getpid())")
        defer { try? fm.removeItem(at: root) }
        let task = root.appendingPathComponent("4001/task/1591")
        try fm.createDirectory(at: task, withIntermediateDirectories: true)
        try fixture("status-traced-in-pid-namespace").write(to: task.appendingPathComponent("status"), atomically: true, encoding: .utf8)
        let ns = root.appendingPathComponent("4001/ns")
        try fm.createDirectory(at: ns, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: ns.appendingPathComponent("net").path, withDestinationPath: "net:[4026531840]")
        try fm.createSymbolicLink(atPath: ns.appendingPathComponent("pid").path, withDestinationPath: "pid:[4026532301]")
        let reader = ProcReader(procRoot: FilePath(root.path))
        #expect(try reader.namespaceLink(pid: 4001, .net) == "net:[4026531840]")
        #expect(try reader.namespaceLink(pid: 4001, .pid) == "pid:[4026532301]")
        #expect(reader.namespacePath(pid: 4001, .net) == FilePath(root.path).appending("4001/ns/net"))
        #expect(throws: ProcError.processGone(pid: 4002)) { try reader.namespaceLink(pid: 4002, .net) }
        #expect(reader.namespacedThreadIDs(pid: 4001) == [1: 1591])
        #expect(try reader.status(pid: 4001, tid: 1591).tracerPID == 1853)
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

@Suite("FDDirectory: one listing, readlinks shared by two threads")
struct FDDirectoryTests {
    @Test("two threads reading this process's 1,000 socket descriptors take each exactly once, and agree with fdTable")
    func sharedReads() throws {
        var pairs: [Int32] = []
        defer { for fd in pairs { close(fd) } }
        for _ in 0..<500 {
            var sv: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0 else { throw Errno(rawValue: errno) }
            pairs += sv
        }
        let reader = ProcReader()
        let dir = try FDDirectory(reader: reader, pid: getpid())
        #expect(Set(pairs).isSubset(of: Set(dir.fds)))
        let other = OtherThread { try dir.readTargets() }
        let mine = try dir.readTargets()
        let theirs = try other.join()
        let all = mine + theirs
        #expect(Set(all.map(\.fd)).count == all.count, "no descriptor read twice")
        let table = try reader.fdTable(pid: getpid())
        for fd in pairs {
            #expect(all.first { $0.fd == fd }?.target == table[fd], "fd \(fd)")
            #expect(table[fd]?.socketInode != nil)
        }
    }
}

/// Runs `body` on a thread of its own; `join()` waits for its result.
final class OtherThread<T: Sendable>: @unchecked Sendable {
    private var result: Result<T, Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws -> T) {
        let t = Thread { [self] in
            result = Result { try body() }
            done.signal()
        }
        t.start()
    }

    func join() throws -> T {
        done.wait()
        return try result!.get()
    }
}
