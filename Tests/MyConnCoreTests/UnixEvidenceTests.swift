import MySQLSessions
import ProcFS
import Testing
@testable import MyConnCore

/// `Lister.gatherUnixEvidence` on the recorded tree: a unix-socket session's fd is proven by its
/// own thread blocked on it, and kept only if the session is still there, on the same thread,
/// when the server is asked again after the kernel was read.
@Suite("Unix-socket proof and its re-check, on a recorded mariadbd (no root, no server)")
struct UnixEvidenceTests {
    let tree: RecordedProcTree
    let rows: [ProcessListRow]

    init() throws {
        tree = try RecordedProcTree()
        rows = try tree.processList()
    }

    /// The recorded TID of a session.
    func tid(_ id: UInt64) -> Int32? { rows.first { $0.id == id }?.tid ?? nil }

    func gather(_ source: FakeSessionSource, proc: ProcReader, facts: ServerFacts? = nil) -> [UInt64: UnixSocketEvidence] {
        Lister(proc: proc, kernelSource: .proc)
            .gatherUnixEvidence(rows: rows, facts: facts ?? tree.serverFacts, pid: tree.mainPID, source: source)
    }

    /// mariadbd's fd for a unix session, from `ss -xpe` through the client's inode.
    func oracleFD(_ id: UInt64) throws -> Int32 {
        let inode = try #require(try tree.clients()[id]?.inode)
        return try #require(try tree.ssUnix()[inode]?.fd)
    }

    @Test("idle sessions are proven by their polling thread and stay proven when the re-check agrees")
    func provenStaysProven() throws {
        let memory = try tree.withMemory()
        let source = FakeSessionSource(facts: tree.serverFacts, rows: rows)
        let evidence = gather(source, proc: memory.proc)
        #expect(evidence[7] == .fd(try oracleFD(7), .thread))
        #expect(evidence[8] == .fd(try oracleFD(8), .thread))
        // Session 9 is in SELECT SLEEP: its thread waits on a futex, not on its socket.
        guard case .notProven(let why)? = evidence[9] else { Issue.record("session 9: \(String(describing: evidence[9]))"); return }
        #expect(why.contains("futex"), "\(why)")
        #expect(evidence[tree.selfID] == nil, "our own session is not probed")
        #expect(evidence[4] == nil, "TCP sessions need no unix evidence")
        // TIDs came with the rows: the only question to the server is the re-check, of the proven ones.
        #expect(source.presentCalls == [[7, 8]])
    }

    @Test("a session whose thread changed between the kernel read and the re-check is not proven")
    func threadChanged() throws {
        let memory = try tree.withMemory()
        let source = FakeSessionSource(facts: tree.serverFacts, rows: rows) { _, _ in [7: 4242, 8: self.tid(8)] }
        let evidence = gather(source, proc: memory.proc)
        #expect(evidence[7] == .notProven("the session changed threads while its socket was being read"))
        #expect(evidence[8] == .fd(try oracleFD(8), .thread))
    }

    @Test("a session that ended between the kernel read and the re-check is not proven")
    func sessionEnded() throws {
        let memory = try tree.withMemory()
        let source = FakeSessionSource(facts: tree.serverFacts, rows: rows) { _, _ in [8: self.tid(8)] }
        let evidence = gather(source, proc: memory.proc)
        #expect(evidence[7] == .notProven("the session ended while its socket was being read"))
        #expect(evidence[8] == .fd(try oracleFD(8), .thread))
    }

    @Test("a re-check that fails proves nothing")
    func recheckFails() throws {
        let memory = try tree.withMemory()
        let source = FakeSessionSource(facts: tree.serverFacts, rows: rows) { _, _ in nil }
        let evidence = gather(source, proc: memory.proc)
        #expect(evidence[7] == .notProven("could not re-check that the session still exists"))
        #expect(evidence[8] == .notProven("could not re-check that the session still exists"))
    }

    @Test("without TIDs in the processlist (SHOW FULL PROCESSLIST) they are asked for; the re-check still compares")
    func tidsAskedFor() throws {
        let memory = try tree.withMemory()
        var bare = rows
        for i in bare.indices { bare[i].tid = nil }
        let source = FakeSessionSource(facts: tree.serverFacts, rows: bare) { call, ids in
            // First call: the TIDs, session 9 already gone. Second: the re-check, 7 on another thread.
            call == 1 ? [7: self.tid(7), 8: self.tid(8)] : [7: 4242, 8: self.tid(8)]
        }
        let evidence = Lister(proc: memory.proc, kernelSource: .proc)
            .gatherUnixEvidence(rows: bare, facts: tree.serverFacts, pid: tree.mainPID, source: source)
        #expect(source.presentCalls == [[7, 8, 9], [7, 8]])
        #expect(evidence[9] == .notProven("the session ended while its socket was being read"))
        #expect(evidence[7] == .notProven("the session changed threads while its socket was being read"))
        #expect(evidence[8] == .fd(try oracleFD(8), .thread))
    }

    @Test("performance_schema's fds go through the same re-check")
    func performanceSchema() throws {
        var facts = tree.serverFacts
        facts.performanceSchema = true
        let source = FakeSessionSource(facts: facts, rows: rows) { _, _ in [7: self.tid(7), 8: self.tid(8)] }
        source.psFDs = [7: try oracleFD(7), 8: try oracleFD(8), 9: try oracleFD(9)]
        // The recorded tree without mem: performance_schema needs no thread probe.
        let evidence = gather(source, proc: tree.proc, facts: facts)
        #expect(evidence[7] == .fd(try oracleFD(7), .performanceSchema))
        #expect(evidence[8] == .fd(try oracleFD(8), .performanceSchema))
        #expect(evidence[9] == .notProven("the session ended while its socket was being read"))
    }

    @Test("a thread pool names no socket; a poll set that cannot be read proves nothing")
    func notProvable() throws {
        var pool = tree.serverFacts
        pool.threadHandling = "pool-of-threads"
        let pooled = gather(FakeSessionSource(facts: pool, rows: rows), proc: tree.proc, facts: pool)
        for id: UInt64 in [7, 8, 9] {
            guard case .notProven(let why)? = pooled[id] else { Issue.record("session \(id): \(String(describing: pooled[id]))"); continue }
            #expect(why.contains("pool-of-threads shares threads between sessions"), "\(why)")
        }
        // No mem in the tree as stored: the pollfd address cannot be read.
        let noMemory = gather(FakeSessionSource(facts: tree.serverFacts, rows: rows), proc: tree.proc)
        guard case .notProven(let why)? = noMemory[7] else { Issue.record("session 7: \(String(describing: noMemory[7]))"); return }
        #expect(why.contains("the poll set of thread \(tid(7)!) could not be read"), "\(why)")
    }
}
