import Testing
@testable import ProcFS
import SocketModel

@Suite("fd links, unix sockets, thread syscalls")
struct OtherParsersTests {
    @Test("every recorded fd link form is classified")
    func fdLinks() throws {
        let links = try fixture("fd-link-forms").split(separator: "\n").map(String.init)
        #expect(links.contains { FDTarget(link: $0) == .socket(inode: 19387) })
        #expect(links.contains { FDTarget(link: $0) == .pipe(inode: 19865) })
        #expect(links.contains { FDTarget(link: $0) == .anonInode("eventpoll") })
        #expect(links.contains { FDTarget(link: $0) == .anonInode("inotify") })
        #expect(links.contains { FDTarget(link: $0) == .anonInode("io_uring") })
        #expect(links.contains { FDTarget(link: $0) == .path("/tmp/#16220210", deleted: true) })
        #expect(links.contains { FDTarget(link: $0) == .path("/dev/null", deleted: false) })
        for link in links {
            if case .other = FDTarget(link: link) { Issue.record("unclassified link form \(link)") }
        }
        #expect(FDTarget(link: "socket:[abc]") == .other("socket:[abc]"))
        #expect(FDTarget(link: "socket:[42]").socketInode == 42)
        #expect(FDTarget(link: "pipe:[42]").socketInode == nil)
    }

    @Test("unix sockets: mysqld's listener and its connected sessions")
    func unix() throws {
        let rows = try NetUnixParser.parse(fixture("mariadbd-net-unix"))
        let listener = try #require(rows.first { $0.inode == 7342 })
        #expect(listener.isListening)
        #expect(listener.path == "/tmp/scratch/s.sock")
        #expect(!listener.isConnectedStream)
        let session = try #require(rows.first { $0.inode == 19389 })
        #expect(session.isConnectedStream)
        #expect(session.path == "/tmp/scratch/s.sock")
        #expect(rows.contains { $0.path == nil && $0.isConnectedStream })
        #expect(throws: ProcParseError.self) { try NetUnixParser.parse("Num RefCount\nzz: 1 2\n") }
    }

    @Test("thread syscall lines: poll on one fd, futex, running")
    func syscalls() throws {
        let lines = try fixture("mariadbd-task-syscall").split(separator: "\n")
        let idle = try #require(lines.first { $0.hasPrefix("5812 ") })
        let parsed = try #require(ThreadSyscall(text: idle.drop { $0 != " " }.dropFirst()))
        guard case .blocked(let nr, let args, _, let pc) = parsed else {
            Issue.record("expected a blocked thread")
            return
        }
        #expect(nr == 7)  // poll on x86_64, where the fixture was recorded
        #expect(args == [0x7f7144118928, 0x1, 0x1b77400, 0x40, 0x0, 0x0])
        #expect(pc == 0x7f715b71a26f)
        let busy = try #require(lines.first { $0.hasPrefix("5814 ") })
        if case .blocked(let nr, _, _, _)? = ThreadSyscall(text: busy.drop { $0 != " " }.dropFirst()) {
            #expect(nr == 202)  // futex: SELECT SLEEP waits on a condition variable
        } else {
            Issue.record("expected the busy thread blocked in futex")
        }
        #expect(ThreadSyscall(text: "running\n") == .running)
        #expect(ThreadSyscall(text: "-1 0x7ffc 0x7f00\n") == .running)
        #expect(ThreadSyscall(text: "7 0x1 0x2\n") == nil)
    }

    @Test("stat: starttime is counted from the last parenthesis, whatever the command name holds")
    func stat() throws {
        let text = try fixture("proc-stat-odd-comm")
        #expect(text.contains("(x) (y)"))
        let fields = text.split(separator: " ")
        // With the name's own space, field 22 sits one word further on when split naively.
        #expect(ProcStat.startTimeTicks(text) == UInt64(fields[22]))
        #expect(ProcStat.startTimeTicks("12 (cat) R") == nil)
    }

    @Test("status: name, thread group, real uid, tracer, the ids in nested pid namespaces and the effective capabilities")
    func status() throws {
        let traced = ProcStatus(text: try fixture("status-traced-in-pid-namespace"))
        var want = ProcStatus(name: "sleep", tgid: 1591, uid: 0, tracerPID: 1853, namespacedPIDs: [1591, 1])
        want.effectiveCapabilities = 0x1ff_feff_ffff  // root's CapEff in that fixture: CAP_NET_ADMIN (bit 12) among them
        #expect(traced == want)
        #expect(traced.effectiveCapabilities.map { $0 & (1 << ProcStatus.capNetAdmin) != 0 } == true)
        let nobody = ProcStatus(text: try fixture("status-nobody"))
        #expect(nobody.uid == 65534 && nobody.tracerPID == 0 && nobody.namespacedPIDs == [2502] && nobody.name == "sleep")
        #expect(nobody.effectiveCapabilities == 0)
        #expect(ProcStatus(text: "Name:\tx: y\nUid:\n") == ProcStatus(name: "x: y"))
    }
}
