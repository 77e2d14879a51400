import Foundation
import Testing

extension RealServer.DockerTests {
    /// nftables as the container's network namespace has it, seen from the host (nsenter).
    func containerTables(_ c: MariaDBContainer) throws -> [String] {
        let r = try run("/usr/bin/nsenter", ["-t", String(c.hostPID), "-n", "/usr/sbin/nft", "-j", "list", "tables"])
        let items = (try parseJSON(r.stdout)["nftables"] as? [[String: Any]]) ?? []
        return items.compactMap { $0["table"] as? [String: Any] }.filter { $0["name"] as? String == "myconn" }.compactMap { $0["family"] as? String }
    }

    func hostTables() throws -> [String] {
        let items = (try parseJSON(try run("/usr/sbin/nft", ["-j", "list", "tables"]).stdout)["nftables"] as? [[String: Any]]) ?? []
        return items.compactMap { $0["table"] as? [String: Any] }.filter { $0["name"] as? String == "myconn" }.compactMap { $0["family"] as? String }
    }

    @Test("fault --container from the host: a blackhole for 3 s inside the container's namespace stalls one session and not its neighbour; nothing on the host; expired and swept",
          arguments: DockerEnvironment.images.prefix(1))
    func faultFromHost(image: String) throws {
        let c = try MariaDBContainer(image: image)
        let clients = try c.clientsOnHost("tcp4:loop:2")
        let (victim, neighbour) = (clients.sessions[0], clients.sessions[1])
        usleep(500_000)
        let audit = FileManager.default.temporaryDirectory.appendingPathComponent("myconn-dfault-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: audit) }
        let r = try myconn(["fault", String(victim.id), "--blackhole", "--for", "3s", "--container", c.name, "--yes", "--json",
                            "--audit-log", audit, "--no-defaults"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Set(try containerTables(c)) == ["inet", "netdev"], "our tables are in the container's namespace")
        #expect(try hostTables().isEmpty, "and not in the host's")
        usleep(9_000_000)
        let summaries = clients.finish()
        #expect(summaries[victim.id]?.errorCode == nil && (summaries[victim.id]?.maxGapUs ?? 0) >= 2_500_000, "\(summaries[victim.id].map { "\($0)" } ?? "-")")
        #expect(summaries[neighbour.id]?.errorCode == nil && (summaries[neighbour.id]?.maxGapUs ?? 9_000_000) < 1_000_000, "\(summaries[neighbour.id].map { "\($0)" } ?? "-")")
        let listed = try parseJSON(try myconn(["fault", "--list", "--container", c.name, "--json", "--no-defaults"]).stdout)
        #expect((listed["faults"] as? [Any])?.isEmpty == true && (listed["removed"] as? [Any])?.count == 1, "\(listed)")
        #expect(try containerTables(c).isEmpty, "nothing of ours left in the container")
    }

    @Test("fault from a sidecar: with NET_ADMIN (and SYS_PTRACE) loss is made, listed and healed in the shared namespace; without NET_ADMIN it is refused before anything is made",
          .enabled(if: DockerEnvironment.toolImage != nil, "needs MYCONN_TEST_IMAGE (scripts/test.sh builds it with scripts/docker-image.sh)"))
    func faultFromSidecar() throws {
        let tool = try #require(DockerEnvironment.toolImage)
        let c = try MariaDBContainer(image: try #require(DockerEnvironment.images.first))
        let clients = try c.clientsOnHost("tcp4:loop:2")
        defer { withExtendedLifetime(clients) {} }
        usleep(300_000)
        func sidecar(_ caps: [String]) -> [String] {
            ["docker", "run", "--rm", "--pid", "container:\(c.name)", "--network", "container:\(c.name)"] + caps.flatMap { ["--cap-add", $0] } + [tool]
        }
        let socket = ["-S", "/proc/1/root/run/mysqld/mysqld.sock", "--no-defaults"]
        let victim = clients.sessions[0].id
        let refused = try run("/usr/bin/env", sidecar(["SYS_PTRACE"]) + ["fault", String(victim), "--loss", "30", "--yes"] + socket)
        #expect(refused.status == 9 && refused.stderr.contains("NET_ADMIN"), "\(refused.status) \(refused.stderr)")
        #expect(try containerTables(c).isEmpty, "nothing made without NET_ADMIN")
        let both = sidecar(["SYS_PTRACE", "NET_ADMIN"])
        let made = try run("/usr/bin/env", both + ["fault", String(victim), "--loss", "30", "--yes", "--json"] + socket)
        #expect(made.status == 0, "\(made.stderr)")
        let listed = try parseJSON(try run("/usr/bin/env", both + ["fault", "--list", "--json"] + socket).stdout)
        let faults = try #require(listed["faults"] as? [[String: Any]])
        #expect(faults.count == 1 && faults.first?["session_id"] as? Int == Int(victim) && faults.first?["fault"] as? String == "loss:30", "\(listed)")
        let healed = try run("/usr/bin/env", both + ["fault", "--heal", "--all", "--yes", "--json"] + socket)
        let healedCount = (try? parseJSON(healed.stdout))?["healed"] as? [Any]
        #expect(healed.status == 0 && healedCount?.count == 1, "\(healed.stderr)")
        #expect(try containerTables(c).isEmpty)
    }
}
