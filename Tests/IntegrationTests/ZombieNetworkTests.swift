import Foundation
import Testing

/// A test host: a network namespace joined to this one by a veth pair, 10.231.N.2 there and
/// 10.231.N.1 here. Removed in `deinit`. Traffic goes only between the two ends.
final class TestHost {
    let name: String
    let hostSide: String
    let clientAddress: String
    let serverAddress: String

    init() throws {
        let n = Int.random(in: 1...250)
        name = "myconn-test-\(getpid())-\(n)"
        hostSide = "mcv\(n)h"
        serverAddress = "10.231.\(n).1"
        clientAddress = "10.231.\(n).2"
        let steps: [[String]] = [
            ["netns", "add", name],
            ["link", "add", hostSide, "type", "veth", "peer", "name", "mcv\(n)c"],
            ["link", "set", "mcv\(n)c", "netns", name],
            ["addr", "add", "\(serverAddress)/24", "dev", hostSide],
            ["link", "set", hostSide, "up"],
            ["netns", "exec", name, "ip", "addr", "add", "\(clientAddress)/24", "dev", "mcv\(n)c"],
            ["netns", "exec", name, "ip", "link", "set", "mcv\(n)c", "up"],
            ["netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ]
        for s in steps {
            let r = try run("/usr/sbin/ip", s)
            guard r.status == 0 else { throw TestFailure("ip \(s.joined(separator: " ")): \(r.stderr)") }
        }
    }

    /// The client host's link goes down: its peers' packets go nowhere.
    func unplug() throws {
        let n = hostSide.dropFirst(3).dropLast()
        _ = try run("/usr/sbin/ip", ["netns", "exec", name, "ip", "link", "set", "mcv\(n)c", "down"])
    }

    deinit {
        _ = try? run("/usr/sbin/ip", ["netns", "del", name])
        _ = try? run("/usr/sbin/ip", ["link", "del", hostSide])
    }
}

extension RealServer {
    @Suite("peer-unreachable: a client host whose link goes down")
    struct ZombieNetworkTests {
        @Test("a client on a test host reading a large result loses its link: peer-unreachable within seconds; healthy clients are not flagged")
        func peerUnreachable() throws {
            let host = try TestHost()
            let server = try TestServer(extraArgs: ["--bind-address=127.0.0.1,::1,\(host.serverAddress)"])
            try server.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON *.* TO 'app'@'%'")
            let remote = try DemoClientsProcess(server: server, specs: ["tcp4:bigread:1"], user: "app", password: "pw",
                                                netns: host.name, host4: host.serverAddress)
            // Beside it, a client that does not read its large result (zero window, alive) and a
            // client looping small queries: neither is unreachable.
            let healthy = try DemoClientsProcess(server: server, specs: ["tcp4:loop:1", "tcp4:bigresult:1"])
            let dead = remote.sessions[0].id
            func zombies() throws -> [[String: Any]] {
                let z = try myconn(["zombies", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
                return try parseJSON(z.stdout)["sessions"] as? [[String: Any]] ?? []
            }
            usleep(500_000)
            #expect(try zombies().isEmpty, "nobody is a zombie while both clients are reachable")
            try host.unplug()
            var flagged: [[String: Any]] = []
            for _ in 0..<40 {
                flagged = try zombies()
                if !flagged.isEmpty { break }
                usleep(250_000)
            }
            #expect(flagged.map { $0["id"] as? Int } == [Int(dead)], "only the unplugged client")
            #expect(flagged.first?["zombie"] as? [String] == ["peer-unreachable"])
            let summary = healthy.finish()[healthy.sessions[0].id]
            #expect(summary?.errorCode == nil && (summary?.ok ?? 0) > 0, "the healthy client kept working")
        }
    }
}
