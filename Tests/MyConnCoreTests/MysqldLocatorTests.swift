#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import ProcFS
import Testing
@testable import MyConnCore

/// `MysqldLocator` on the recorded tree: two mariadbd in one network namespace (each sees the
/// other's listener in net/tcp), a client process, pid 1 and a thread id. No socket of ours
/// reaches them (connectionFD -1), so only --pid, the names and the listeners decide.
@Suite("Locating mysqld on a recorded /proc tree (no root, no server)")
struct MysqldLocatorTests {
    let tree: RecordedProcTree
    var locator: MysqldLocator { MysqldLocator(proc: tree.proc) }

    init() throws { tree = try RecordedProcTree() }

    func comm(_ pid: Int32) throws -> String { try tree.proc.comm(pid: pid) }

    @Test("docker-proxy's command line names where it forwards (dockerd 20.10's, as ps showed it here)")
    func dockerProxyTarget() {
        let cmdline = ["/usr/sbin/docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "32770",
                       "-container-ip", "172.17.0.2", "-container-port", "3306"].joined(separator: "\0") + "\0"
        #expect(MysqldLocator.dockerProxyTarget(cmdline) == SocketAddress(ip: .v4(172, 17, 0, 2), port: 3306))
        #expect(MysqldLocator.dockerProxyTarget("/usr/sbin/docker-proxy\0-proto\0tcp\0") == nil)
        #expect(MysqldLocator.dockerProxyTarget("x\0-container-ip\0not-an-ip\0-container-port\03306\0") == nil)
    }

    @Test("without --pid, an owner of the server end that is not mysqld is refused by name, never listed as mysqld")
    func ownerNotServer() throws {
        let locator = MysqldLocator(proc: tree.proc)
        let client = tree.clientsPID
        #expect(throws: LocateError.notServer(pid: client, comm: try tree.proc.comm(pid: client))) {
            try locator.serverOrBeyondProxy(MysqldProcess(pid: client))
        }
        #expect(try locator.serverOrBeyondProxy(MysqldProcess(pid: tree.mainPID)) == MysqldProcess(pid: tree.mainPID))
    }

    @Test("verify: a thread-group leader named mariadbd passes; pid 1, a client and a gone pid do not")
    func verify() throws {
        #expect(try locator.verify(pid: tree.mainPID).pid == tree.mainPID)
        #expect(throws: LocateError.notNamedServer(pid: 1, comm: try comm(1))) { try locator.verify(pid: 1) }
        #expect(throws: LocateError.notNamedServer(pid: tree.clientsPID, comm: "myconn-demo-cli")) {
            try locator.verify(pid: tree.clientsPID)
        }
        #expect(try locator.verify(pid: tree.clientsPID, force: true).pid == tree.clientsPID, "--force accepts another name")
        #expect(throws: LocateError.processGone(pid: 999_999)) { try locator.verify(pid: 999_999) }
    }

    @Test("verify: a mysqld thread id is refused, naming its process, even with --force")
    func threadID() throws {
        let refusal = LocateError.notThreadGroupLeader(pid: tree.threadAsPID, leader: tree.mainPID, comm: "mariadbd")
        #expect(throws: refusal) { try locator.verify(pid: tree.threadAsPID) }
        #expect(throws: refusal) { try locator.verify(pid: tree.threadAsPID, force: true) }
        #expect(throws: refusal) {
            try locator.locate(connectionFD: -1, serverPort: tree.mainPort, requested: tree.threadAsPID)
        }
        #expect(throws: refusal) { try locator.locateWithoutSQL(requested: tree.threadAsPID, socketPath: nil, port: nil) }
    }

    @Test("locate with --pid: verified by name, the listener left to the kernel view; no Uptime asked")
    func locateWithPID() throws {
        var asked = false
        let found = try locator.locate(connectionFD: -1, serverPort: tree.mainPort, requested: tree.mainPID,
                                       serverUptime: { asked = true; return nil })
        #expect(found.pid == tree.mainPID)
        #expect(found.listenerUnchecked)
        #expect(!asked)
        #expect(throws: LocateError.notNamedServer(pid: 1, comm: try comm(1))) {
            try locator.locate(connectionFD: -1, serverPort: tree.mainPort, requested: 1)
        }
    }

    @Test("requireListener: the main server holds its port's listener; the decoy and the client do not")
    func requireListener() throws {
        let main = try KernelSnapshot.read(pid: tree.mainPID, proc: tree.proc, source: .proc, serverPort: tree.mainPort)
        try locator.requireListener(pid: tree.mainPID, kernel: main, port: tree.mainPort)
        try locator.requireListener(pid: tree.mainPID, kernel: main, port: nil)
        let decoy = try KernelSnapshot.read(pid: tree.decoyPID, proc: tree.proc, source: .proc, serverPort: 0)
        #expect(throws: LocateError.notMysqld(pid: tree.decoyPID, comm: "mariadbd", port: tree.mainPort)) {
            try locator.requireListener(pid: tree.decoyPID, kernel: decoy, port: tree.mainPort)
        }
        try locator.requireListener(pid: tree.decoyPID, kernel: decoy, port: tree.decoyPort)
        // The client process holds only client sockets of the same namespace's tables.
        let clientFDs = try tree.proc.fdTable(pid: tree.clientsPID)
        let client = KernelSnapshot(fds: clientFDs, tcp: main.tcp, unix: main.unix)
        #expect(throws: LocateError.notMysqld(pid: tree.clientsPID, comm: "myconn-demo-cli", port: 0)) {
            try locator.requireListener(pid: tree.clientsPID, kernel: client, port: nil)
        }
        // Descriptors not readable: nothing to refuse on, the view says what it lacks.
        try locator.requireListener(pid: tree.decoyPID, kernel: KernelSnapshot(fds: nil, tcp: [], unix: []), port: tree.mainPort)
    }

    @Test("without --pid: the one mariadbd whose descriptors hold the port's listener, not the other")
    func byNameAndPort() throws {
        var asked = false
        let main = try locator.locate(connectionFD: -1, serverPort: tree.mainPort, requested: nil,
                                      serverUptime: { asked = true; return nil })
        #expect(main.pid == tree.mainPID)
        #expect(!main.listenerUnchecked)
        #expect(!asked, "Uptime is asked only when descriptors cannot tell")
        #expect(try locator.locate(connectionFD: -1, serverPort: tree.decoyPort, requested: nil).pid == tree.decoyPID)
        #expect(throws: LocateError.self) { try locator.locate(connectionFD: -1, serverPort: 1, requested: nil) }
    }

    @Test("without SQL: by unix socket path, by port, nothing for a port nobody listens on")
    func withoutSQL() throws {
        #expect(try locator.locateWithoutSQL(requested: nil, socketPath: tree.mainSocket, port: nil)?.pid == tree.mainPID)
        #expect(try locator.locateWithoutSQL(requested: nil, socketPath: nil, port: tree.decoyPort)?.pid == tree.decoyPID)
        #expect(try locator.locateWithoutSQL(requested: nil, socketPath: nil, port: tree.mainPort)?.pid == tree.mainPID)
        #expect(try locator.locateWithoutSQL(requested: nil, socketPath: "/no/such.sock", port: 1) == nil)
        let requested = try #require(try locator.locateWithoutSQL(requested: tree.mainPID, socketPath: nil, port: nil))
        #expect(requested.pid == tree.mainPID && requested.listenerUnchecked)
        #expect(throws: LocateError.notNamedServer(pid: 1, comm: try comm(1))) {
            try locator.locateWithoutSQL(requested: 1, socketPath: nil, port: nil)
        }
    }

    @Test("descriptors unreadable: both mariadbd show the listener, so it is ambiguous unless the server's Uptime picks one")
    func uptimeTieBreak() throws {
        let memory = try tree.withMemory()
        for pid in [tree.mainPID, tree.decoyPID] { chmod("\(memory.dir)/\(pid)/fd", 0) }
        defer { for pid in [tree.mainPID, tree.decoyPID] { chmod("\(memory.dir)/\(pid)/fd", 0o755) } }
        let locator = MysqldLocator(proc: memory.proc)
        let uptime = try tree.serverUptime()
        try withoutFileCapabilities {
            #expect(throws: LocateError.ambiguous(pids: [tree.decoyPID, tree.mainPID].sorted(), port: tree.mainPort)) {
                try locator.byNameAndPort(tree.mainPort, serverUptime: { nil })
            }
            let picked = try locator.byNameAndPort(tree.mainPort, serverUptime: { uptime })
            #expect(picked.pid == tree.mainPID, "the decoy started 4 s earlier than the server's Uptime says")
            // An Uptime neither process agrees with leaves it ambiguous.
            #expect(throws: LocateError.ambiguous(pids: [tree.decoyPID, tree.mainPID].sorted(), port: tree.mainPort)) {
                try locator.byNameAndPort(tree.mainPort, serverUptime: { uptime + 100 })
            }
        }
    }
}

/// Runs `body` on this thread with the file-system uid of `nobody`, so permission bits bind as
/// they do for an unprivileged user also when the tests run as root (setfsuid(2) is per thread
/// and drops CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH while it is not 0). Not root: runs as is.
func withoutFileCapabilities<T>(_ body: () throws -> T) throws -> T {
    guard geteuid() == 0 else { return try body() }
    // Glibc's module map leaves <sys/fsuid.h> out: the libc symbol itself.
    typealias SetFSUID = @convention(c) (UInt32) -> Int32
    let symbol = try #require(dlsym(nil, "setfsuid"), "setfsuid in libc")
    let setfsuid = unsafeBitCast(symbol, to: SetFSUID.self)
    _ = setfsuid(65534)
    defer { _ = setfsuid(0) }
    try #require(setfsuid(65534) == 65534, "setfsuid took effect")
    return try body()
}
