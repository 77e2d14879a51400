import Foundation
import Testing

extension RealServer.DockerTests {
    @Test("top --container: the sessions of the container's mysqld with their fds as its /proc has them; K then y ends the one under the cursor",
          arguments: DockerEnvironment.images.prefix(1))
    func topInContainer(image: String) throws {
        let c = try MariaDBContainer(image: image)
        let host = try c.clientsOnHost("tcp4:idle:3")
        defer { withExtendedLifetime(host) {} }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-dtop-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let audit = dir.appendingPathComponent("audit.log").path
        let pane = try TmuxPane()
        try pane.shell([productsDir.appendingPathComponent("myconn").path, "top", "--container", c.name, "--no-defaults",
                        "--interval", "0.5", "--audit-log", audit].joined(separator: " ") + "; echo TOP_EXIT=$?")
        let ids = host.sessions.map(\.id)
        let screen = try pane.wait(seconds: 20, "the host clients' sessions") { Set(TopScreenText($0).ids).isSuperset(of: Set(ids)) }
        #expect(screen.contains { $0.contains("mysqld pid \(c.hostPID)") }, "the engine's pid in the header: \(screen.prefix(3))")
        // Each row's fd is the one the container's mysqld holds for that session's socket (the
        // oracle: ss in its namespace by peer, /proc/<pid>/fd by inode; list --json gives the peer).
        let listed = try parseJSON(try myconn(["list", "--container", c.name, "--json", "--no-defaults"]).stdout)
        try c.expectExact(listed)
        let fdByID = Dictionary(uniqueKeysWithValues: ((listed["sessions"] as? [[String: Any]]) ?? []).compactMap { s -> (UInt64, Int32)? in
            guard let id = s["id"] as? Int, let fd = s["fd"] as? Int else { return nil }
            return (UInt64(id), Int32(fd))
        })
        for row in TopScreenText(screen).rows where ids.contains(row.id ?? 0) {
            #expect(row.fd != nil && row.fd == fdByID[row.id!], "session \(row.id!): fd on screen \(row.fd.map(String.init) ?? "-")")
        }
        try pane.keys("s")  // by ID
        try pane.wait("sort by ID") { $0.contains { $0.contains("sort ID") } }
        let victim = ids[1]
        try pane.moveCursor(to: victim)
        try pane.keys("K")
        try pane.wait("the confirmation") { $0.contains { $0.contains("y: do it") } }
        try pane.keys("y")
        try pane.wait(seconds: 15, "the outcome") { $0.contains { $0.contains("session \(victim): gone") } }
        let left = Set(try docker(["exec", c.name, "mariadb", "-N", "-e", "SELECT ID FROM information_schema.PROCESSLIST"])
            .split(separator: "\n").compactMap { UInt64($0) })
        #expect(!left.contains(victim) && left.isSuperset(of: [ids[0], ids[2]]), "\(left)")
        try pane.keys("q")
        try pane.wait("the shell again") { $0.contains("TOP_EXIT=0") }
    }
}
