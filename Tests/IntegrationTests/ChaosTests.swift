import Foundation
import Testing

/// Issue 14, section 3, for the long-running front ends: `reap` mid-action and `serve`
/// mid-request, each SIGKILLed at the moment mysqld's main thread is held by a ptrace cut.
/// Their cuts go through the same helper process as `close` (PtraceHelper), which finishes
/// without them.
extension RealServer {
    @Suite("SIGKILL of reap and serve while a ptrace cut holds mysqld's thread")
    struct FrontEndChaosTests {
        /// Spins on mysqld's main thread until it has a tracer (a hold of a few hundred
        /// microseconds), then SIGKILLs `pid`. True when the hold was seen.
        static func killWhenHeld(_ pid: Int32, mysqld: Int32, seconds: Double = 20) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            var seen = false
            while Date() < end {
                let status = (try? String(contentsOfFile: "/proc/\(mysqld)/status", encoding: .utf8)) ?? ""
                if !status.contains("TracerPid:\t0\n") { seen = true; break }
            }
            kill(pid, SIGKILL)
            return seen
        }

        /// No thread of mysqld stopped or traced, once the helper has left.
        static func expectNothingHeld(_ server: TestServer, sourceLocation: SourceLocation = #_sourceLocation) throws {
            for _ in 0..<200 where !runningHelpers(named: "myconn-ptrace").isEmpty { usleep(10_000) }
            #expect(runningHelpers(named: "myconn-ptrace").isEmpty, "the helper left", sourceLocation: sourceLocation)
            for t in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/task") {
                let status = (try? String(contentsOfFile: "/proc/\(server.pid)/task/\(t)/status", encoding: .utf8)) ?? "TracerPid:\t0\n"
                #expect(status.contains("TracerPid:\t0\n") && !status.contains("State:\tt"), "thread \(t) is left traced or stopped",
                        sourceLocation: sourceLocation)
            }
        }

        @Test("reap --close --method ptrace SIGKILLed inside its cut: the victim is cut anyway, the neighbour stays, nothing is left traced")
        func reapKilledInHold() throws {
            let server = try TestServer()
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT USAGE ON *.* TO 'app'@'%'")
            let neighbour = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"])
            var held = 0
            for round in 0..<2 {
                // One victim a round: the earlier ones are cut.
                let victims = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"], user: "app", password: "pw")
                defer { withExtendedLifetime(victims) {} }
                sleep(2)
                let reap = try RealServer.ReapActTests.PausedReap(server, ["--close", "--method", "ptrace", "--match-user", "app",
                                                                          "--idle-time", "1", "--interval", "1"])
                try reap.waitPaused()
                reap.resume()
                if Self.killWhenHeld(reap.process.processIdentifier, mysqld: server.pid) { held += 1 }
                reap.process.waitUntilExit()
                #expect(reap.process.terminationReason == .uncaughtSignal, "round \(round): reap was killed, not finished: \(reap.stderr)")
                try Self.expectNothingHeld(server)
                let victim = victims.sessions[0].id
                try RealServer.ReapActTests.waitGone(server, victim)
                #expect(try !RealServer.ReapActTests.present(server).contains(victim), "round \(round): the helper finished the cut")
                #expect(try RealServer.ReapActTests.present(server).contains(neighbour.sessions[0].id))
            }
            #expect(held == 2, "every kill fell inside the hold (\(held) of 2)")
            #expect(try server.sql("SELECT 1") == "1\n", "mysqld serves")
        }

        @Test("serve SIGKILLed inside a ptrace close it was asked for: the session is cut anyway, the others stay, nothing is left traced")
        func serveKilledInHold() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:3"])
            let serve = try ServeProcess(server: server, arguments: ["--interval", "1", "--no-defaults", "-uroot", "-S", server.socketPath])
            let target = clients.sessions[0].id
            let request = Thread { _ = try? serve.request("POST", "/sessions/\(target)/close", body: #"{"method": "ptrace"}"#) }
            request.start()
            #expect(Self.killWhenHeld(serve.process.processIdentifier, mysqld: server.pid), "the kill fell inside the hold")
            serve.process.waitUntilExit()
            #expect(serve.process.terminationReason == .uncaughtSignal)
            try Self.expectNothingHeld(server)
            try RealServer.ReapActTests.waitGone(server, target)
            let present = try RealServer.ReapActTests.present(server)
            #expect(!present.contains(target), "the helper finished the cut")
            for s in clients.sessions.dropFirst() { #expect(present.contains(s.id), "session \(s.id) stays") }
            #expect(try server.sql("SELECT 1") == "1\n", "mysqld serves")
        }
    }
}
