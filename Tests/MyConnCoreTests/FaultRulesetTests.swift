import Foundation
import ProcFS
import Testing
@testable import MyConnCore

/// Faults as nftables text (what myconn sends) and JSON (what it reads back), on the listing
/// recorded in Fixtures/nft-faults (its README says how): no kernel, no root.
@Suite("fault rules: the commands made for a connection, and faults read back from a recorded nftables listing")
struct FaultRulesetTests {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/nft-faults")

    func recorded() throws -> [FaultRuleset.Installed] {
        try FaultRuleset.parse(listings: try ["listing-inet.json", "listing-netdev.json"].map {
            try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)
        })
    }

    func address(_ ip: String, _ port: UInt16) -> SocketAddress { SocketAddress(ip: IPAddress(text: ip)!, port: port) }

    @Test("the recorded listing gives the three faults back: ids, sessions, the 4-tuple turned the right way, kinds, directions, rules, expiry")
    func parseRecorded() throws {
        let faults = try recorded()
        #expect(faults.map(\.record.id) == [1, 2, 3])
        #expect(faults.allSatisfy { $0.record.mysqldPID == 29355 })
        let (bh, loss, rate) = (faults[0], faults[1], faults[2])
        #expect(bh.record.connection.inode == 297519 && bh.record.connection.cookie == 16150)
        #expect(bh.record.session == 5 && bh.record.kind == .blackhole && bh.record.direction == .both)
        #expect(bh.record.connection.client == address("127.0.0.1", 58614) && bh.record.connection.server == address("127.0.0.1", 12953))
        #expect(Set(bh.sets) == ["inet f1_in", "netdev f1_out"] && bh.elements == 2 && !bh.expired)
        #expect(bh.rules.filter { $0.family == "inet" }.map(\.chain) == ["input"])
        #expect(bh.rules.filter { $0.family == "netdev" }.count == 5, "one egress rule per interface of the namespace")
        #expect(bh.record.until == 1796193951 && (bh.expiresIn ?? 0) > 55 && (bh.expiresIn ?? 99) <= 60)
        #expect(loss.record.kind == .loss(percent: 12.5) && loss.record.direction == .toClient && loss.sets == ["netdev f2_out"])
        #expect(loss.record.connection.client == address("::1", 54386), "the output set's element is server . client")
        #expect(loss.record.until == nil && loss.expiresIn == nil)
        #expect(rate.record.kind == .rate(kbit: 512) && rate.record.direction == .toServer && rate.rules.map(\.label) == ["inet input#5"])
        #expect(rate.record.connection.client == address("127.0.0.1", 58620), "the input set's element is client . server")
        // What `fault --list --json` printed from the same listing.
        let printed = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("list.json"))) as! [String: Any]
        let rows = printed["faults"] as! [[String: Any]]
        #expect(rows.map { $0["client"] as? String } == faults.map { $0.record.connection.client.description })
        #expect(rows.map { $0["rules"] as? [String] ?? [] } == faults.map { $0.rules.map(\.label) })
    }

    @Test("the commands: one set per direction with the 4-tuple each way, the rule in the hook that sees that direction once, the timeout in ms")
    func commands() {
        let conn = FaultConnection(server: address("::ffff:127.0.0.1", 3306), client: address("127.0.0.1", 40000), inode: 9, cookie: 77)
        #expect(conn.isIPv4, "an IPv4-mapped end is IPv4 on the wire")
        let r = FaultRecord(id: 4, mysqldPID: 100, session: 12, connection: conn, kind: .loss(percent: 30), direction: .both, created: 1000, until: 1003)
        let text = FaultRuleset.add(r, seconds: 2.5, interfaces: [(1, "lo"), (2, "eth0"), (3, "bad\"name")])
        #expect(text.contains("create set inet myconn f4_in {") && text.contains("create set netdev myconn f4_out {"), "created: a set another myconn made meanwhile fails the transaction")
        #expect(text.contains("add element inet myconn f4_in { 127.0.0.1 . 40000 . 127.0.0.1 . 3306 timeout 2500ms }"))
        #expect(text.contains("add element netdev myconn f4_out { 127.0.0.1 . 3306 . 127.0.0.1 . 40000 timeout 2500ms }"))
        #expect(text.contains("add rule inet myconn input ip saddr . tcp sport . ip daddr . tcp dport @f4_in numgen random mod 1000 < 300 drop"))
        #expect(text.contains("add chain netdev myconn egress_2 { type filter hook egress device \"eth0\" priority -150; policy accept; }"))
        #expect(text.contains("add rule netdev myconn egress_1 ip saddr . tcp sport . ip daddr . tcp dport @f4_out numgen random mod 1000 < 300 drop"))
        #expect(!text.contains("egress_3") && !text.contains("output"), "a name nftables cannot quote as it is gets no chain; nothing in the output hook")
        let one = FaultRecord(id: 5, mysqldPID: 100, session: nil, connection: FaultConnection(server: address("::1", 3306), client: address("::1", 5), inode: 1, cookie: 2),
                              kind: .blackhole, direction: .toClient, created: 1, until: nil)
        let t2 = FaultRuleset.add(one, seconds: nil, interfaces: [(1, "lo")])
        #expect(!t2.contains("f5_in") && !t2.contains("inet myconn") && t2.contains("type ipv6_addr . inet_service") && t2.contains("ip6 saddr") && !t2.contains("timeout 1"))
        #expect(FaultRuleset.comment(one).utf8.count <= 128 && FaultRuleset.comment(r).utf8.count <= 128, "nftables' comment limit")
        let parsed = FaultRuleset.parseComment(FaultRuleset.comment(r))
        #expect(parsed?.id == 4 && parsed?.pid == 100 && parsed?.session == 12 && parsed?.kind == .loss(percent: 30) && parsed?.until == 1003)
        #expect(FaultRuleset.parseComment("someone else's rule") == nil)
    }

    @Test("removal: every rule and set of the faults in its own family; the tables named")
    func removal() throws {
        let faults = try recorded()
        let some = FaultRuleset.remove([faults[0]], dropTables: [])
        #expect(some.contains("delete set inet myconn f1_in") && some.contains("delete set netdev myconn f1_out") && !some.contains("delete table"))
        #expect(some.components(separatedBy: "delete rule netdev myconn egress_").count - 1 == 5)
        #expect(FaultRuleset.remove(faults, dropTables: ["inet", "netdev"]).hasSuffix("delete table inet myconn\ndelete table netdev myconn\n"))
        #expect(FaultRuleset.nextID(faults) == 4)
    }
}
