import Foundation
import Testing

extension RealServer {
    @Suite("list --clients: the process at the other end")
    struct ClientProcessTests {
        @Test("loopback tcp4/tcp6 and unix-socket clients are named by pid, command, uid and their own fd (checked in /proc); a client on a test host has none here; myconn's own unix connection is proven by its peer")
        func clients() throws {
            let host = try TestHost()
            let server = try TestServer(extraArgs: ["--bind-address=127.0.0.1,::1,\(host.serverAddress)"])
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON *.* TO 'app'@'%'")
            let local = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1", "tcp6:idle:1", "unix:idle:2"])
            let remote = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"], user: "app", password: "pw",
                                                netns: host.name, host4: host.serverAddress)
            usleep(300_000)  // the unix sessions' threads settle in their read
            let r = try myconn(["list", "--clients", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stderr.contains("not attributed"), "myconn's own unix connection is proven through unix_diag: \(r.stderr)")
            let sessions = try parseJSON(r.stdout)["sessions"] as? [[String: Any]] ?? []
            let pid = local.process.processIdentifier
            for s in local.sessions {
                let row = try #require(sessions.first { $0["id"] as? Int == Int(s.id) })
                let clients = row["clients"] as? [[String: Any]] ?? []
                #expect(clients.count == 1, "session \(s.id) (\(s.transport)): \(row["clients"] ?? "none")")
                guard let c = clients.first else { continue }
                #expect(c["pid"] as? Int == Int(pid) && c["command"] as? String == "myconn-demo-cli" && c["uid"] as? Int == 0)
                // Independent of myconn: that process's fd is the socket the client printed as its own.
                let fd = try #require(c["fd"] as? Int)
                let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")
                #expect(link == "socket:[\(s.inode)]", "session \(s.id)")
            }
            let far = try #require(sessions.first { $0["id"] as? Int == Int(remote.sessions[0].id) })
            #expect((far["clients"] as? [Any])?.isEmpty == true, "a client in another network namespace has no socket here")

            let plain = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            let plainRows = try parseJSON(plain.stdout)["sessions"] as? [[String: Any]] ?? []
            #expect(plainRows.allSatisfy { $0["clients"] is NSNull }, "without --clients: null, not looked up")
            let table = try myconn(["list", "--clients", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(table.stdout.contains("CLIENT") && table.stdout.contains("\(pid)/myconn-demo-cli"))
        }
    }
}
