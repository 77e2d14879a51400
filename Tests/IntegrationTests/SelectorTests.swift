import Foundation
import Testing

extension RealServer {
    /// The matchers of kill, close and probe (and fault) on a real server: each picks exactly the
    /// sessions the test made for it, all of them together must hold, and myconn's own session
    /// (in Query while it lists) is never picked.
    @Suite("selectors: --match-user/db/host/command/info/state, --client, --client-port, --program (AND)")
    struct SelectorTests {
        @Test("every matcher picks exactly the sessions expected and nothing else; nothing matched is status 15; --program without performance_schema is refused")
        func eachMatcherExact() throws {
            let server = try TestServer(extraArgs: ["--performance-schema=ON"])
            try server.sql("CREATE DATABASE appdb; CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON appdb.* TO 'app'@'%'")
            let app = try DemoClientsProcess(server: server, specs: ["tcp4:idle:2"], user: "app", password: "pw",
                                             database: "appdb", program: "billing")
            let reports = try DemoClientsProcess(server: server, specs: ["tcp6:idle:1", "tcp4:busy:1"], program: "reports")
            let cron = try DemoClientsProcess(server: server, specs: ["unix:idle:1"], program: "cron")
            defer { withExtendedLifetime((app, reports, cron)) {} }
            let a = app.sessions.map(\.id), r = reports.sessions.map(\.id), c = cron.sessions.map(\.id)
            usleep(300_000)

            func picked(_ command: String, _ selectors: [String], status: Int32 = 0,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> Set<UInt64> {
                let out = try myconn([command] + selectors + ["--dry-run", "--yes", "--json", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                                                              "--no-defaults", "-uroot", "-S", server.socketPath])
                #expect(out.status == status, "\(selectors): \(out.stderr)", sourceLocation: sourceLocation)
                guard out.status == 0 else { return [] }
                let targets = try #require(try parseJSON(out.stdout)["targets"] as? [[String: Any]], sourceLocation: sourceLocation)
                return Set(targets.compactMap { ($0["session_id"] as? Int).map(UInt64.init) })
            }
            let idleV4 = Set(a), v6 = Set([r[0]]), busy = Set([r[1]])
            #expect(try picked("kill", ["--match-user", "app"]) == idleV4)
            #expect(try picked("kill", ["--match-user", "/^ap/"]) == idleV4)
            #expect(try picked("kill", ["--match-db", "appdb"]) == idleV4)
            #expect(try picked("kill", ["--match-host", "::1"]) == v6)
            #expect(try picked("kill", ["--match-host", "127.0.0.1"]) == idleV4.union(busy))
            #expect(try picked("kill", ["--match-host", "localhost"]) == Set(c))
            // myconn's own session is in Query while it lists: never picked.
            #expect(try picked("kill", ["--match-command", "Query"]) == busy)
            #expect(try picked("kill", ["--match-info", #"SLEEP\(600\)"#]) == busy)
            #expect(try picked("kill", ["--match-state", "^User sleep$"]) == busy)
            // AND: root's idle ones, over any transport.
            #expect(try picked("kill", ["--match-user", "root", "--match-command", "Sleep"]) == v6.union(c))
            #expect(try picked("kill", ["--match-user", "app", "--match-command", "Query"], status: 15).isEmpty)
            #expect(try picked("kill", ["--program", "billing"]) == idleV4)
            #expect(try picked("kill", ["--program", "/^(re|cr)/"]) == Set(r + c))
            // The client's own view of its end, as the test reads it from its socket.
            #expect(try picked("kill", ["--client", app.sessions[1].local]) == [a[1]])
            #expect(try picked("close", ["--client", reports.sessions[0].local]) == v6)
            // Linux hands one ephemeral port to a 127.0.0.1 and a ::1 client at times: the
            // expectation is every client with that port.
            let port = try #require(app.sessions[0].local.split(separator: ":").last.flatMap { UInt16($0) })
            let withPort = (app.sessions + reports.sessions).filter { $0.local.hasSuffix(":\(port)") }.map(\.id)
            #expect(try picked("close", ["--client-port", String(port)]) == Set(withPort))
            #expect(try picked("close", ["--match-user", "app", "--zombie", "idle", "--idle", "0"]) == idleV4, "with --zombie: both hold")
            #expect(try picked("probe", ["--match-db", "appdb"]) == idleV4)
            // Nothing matched: 15, one line, nothing touched.
            let none = try myconn(["close", "--match-user", "nobody", "--yes", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(none.status == 15 && none.stderr.split(separator: "\n").count == 1 && none.stderr.contains("no session matches --match-user nobody"),
                    "\(none.stderr)")
            let present = Set(try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").compactMap { UInt64($0) })
            #expect(present.isSuperset(of: Set(a + r + c)), "a dry run and a refusal touch nothing")

            // A bad expression is a usage error before anything is read.
            let bad = try myconn(["kill", "--match-info", "(", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(bad.status == 64 && bad.stderr.contains("--match-info ( is not a regular expression"), "\(bad.stderr)")

            // performance_schema off: --program is refused with the reason and what to do.
            let off = try TestServer()
            let refused = try myconn(["kill", "--program", "x", "--yes", "--no-defaults", "-uroot", "-S", off.socketPath])
            #expect(refused.status == 7 && refused.stderr.contains("performance_schema=OFF"), "\(refused.stderr)")
        }
    }
}
