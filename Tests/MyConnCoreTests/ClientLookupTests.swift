import Foundation
import ProcFS
import Testing
@testable import MyConnCore

/// `ClientLookup` (list `--clients`) on the recorded tree. The unix peers are unix_diag's answer
/// as ss recorded it (`ss -xpe`: mysqld's inode <-> the client's); the TCP client ends come from
/// a sock_diag dump in mysqld's namespace, which cannot be replayed until SockDiag has a transport
/// protocol: here the recorded net/tcp stands in for it, and lookup's own TCP path says it is off.
@Suite("Client processes at the other end, on a recorded tree (no root, no server)")
struct ClientLookupTests {
    let tree: RecordedProcTree

    init() throws { tree = try RecordedProcTree() }

    func report() throws -> (ListReport, KernelSnapshot) {
        let memory = try tree.withMemory()
        let source = FakeSessionSource(facts: tree.serverFacts, rows: try tree.processList())
        let report = try Lister(proc: memory.proc, kernelSource: .proc).run(source: source)
        let kernel = try KernelSnapshot.read(pid: tree.mainPID, proc: tree.proc, source: .proc, serverPort: tree.mainPort)
        return (report, kernel)
    }

    /// The demo-clients process's fd for a client socket inode, from its recorded fd table.
    func clientFD(_ inode: UInt64) throws -> Int32 {
        try #require(try tree.proc.fdTable(pid: tree.clientsPID).first { $0.value == .socket(inode: inode) }?.key)
    }

    @Test("unix peers: each unix session's client is the demo-clients process, with its uid and own fd")
    func unixPeers() throws {
        var (report, kernel) = try report()
        var peers: [UInt64: UInt64] = [:]
        for (client, server) in try tree.ssUnix() { peers[server.inode] = client }
        kernel.unixPeers = peers
        let warnings = ClientLookup(proc: tree.proc).attach(to: &report, kernel: kernel, namespaces: MysqldNamespaces(pid: tree.mainPID, proc: tree.proc))
        #expect(report.clientsLookedUp)
        let clients = try tree.clients()
        for id: UInt64 in [7, 8] {
            let s = try #require(report.sessions.first { $0.row.id == id })
            let inode = try #require(clients[id]?.inode)
            #expect(s.socket?.clients == [SocketOwner(pid: tree.clientsPID, command: "myconn-demo-cli", uid: 0, fd: try clientFD(inode))],
                    "session \(id)")
        }
        // TCP needs a sock_diag dump in mysqld's namespace (its ns/net here is only a recorded link).
        #expect(warnings.contains { $0.hasPrefix("client processes of TCP connections:") }, "\(warnings)")
        #expect(report.sessions.filter { $0.transport == .tcp4 || $0.transport == .tcp6 }.allSatisfy { $0.socket?.clients == [] })
    }

    @Test("without unix_diag the unix peers are not guessed, and that is said")
    func noUnixDiag() throws {
        var (report, kernel) = try report()
        kernel.unixPeers = nil
        let warnings = ClientLookup(proc: tree.proc).attach(to: &report, kernel: kernel, namespaces: MysqldNamespaces(pid: tree.mainPID, proc: tree.proc))
        #expect(warnings.contains("client processes of unix-socket connections need unix_diag (sock_diag), not available here"))
        #expect(report.sessions.allSatisfy { $0.socket?.clients.isEmpty ?? true })
    }

    @Test("loopback TCP: the mirror of mysqld's end in net/tcp is the client's socket, held by demo-clients")
    func tcpOwners() throws {
        let (report, kernel) = try report()
        let clients = try tree.clients()
        var wanted: [UInt64: UInt64] = [:]  // client inode -> session
        for s in report.sessions where s.transport == .tcp4 || s.transport == .tcp6 {
            let server = try #require(kernel.tcp.first { $0.inode == s.socket?.inode })
            let mirror = try #require(kernel.tcp.first { $0.local.normalized == server.peer.normalized && $0.peer.normalized == server.local.normalized })
            #expect(mirror.inode == clients[s.row.id]?.inode, "session \(s.row.id): the client printed its own inode")
            wanted[mirror.inode] = s.row.id
        }
        #expect(wanted.count == 4)
        let owners = tree.proc.socketOwners(of: Set(wanted.keys), except: [tree.mainPID])
        for (inode, id) in wanted {
            #expect(owners[inode] == [SocketOwner(pid: tree.clientsPID, command: "myconn-demo-cli", uid: 0, fd: try clientFD(inode))],
                    "session \(id)")
        }
    }
}
