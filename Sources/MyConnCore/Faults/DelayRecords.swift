import FoundationEssentials

/// What a running `--delay` leaves in our `inet myconn` table so that its rules can be found
/// again: a set `q<queue>` holding the connection's 4-tuple (server . sport . client . cport) and,
/// in its comment, the myconn process that serves the queue. The NFQUEUE rules themselves are
/// xtables rules (iptables-nft), whose comment nftables' listing does not show; if that process
/// is gone (killed), the next `fault` call rebuilds the rules' deletion from this record.
public struct DelayRecord: Sendable, Equatable {
    /// The myconn process serving the queue.
    public var owner: Int32
    public var mysqldPID: Int32
    public var queue: UInt16
    public var direction: FaultDirection
    public var connection: FaultConnection

    public init(owner: Int32, mysqldPID: Int32, queue: UInt16, direction: FaultDirection, connection: FaultConnection) {
        self.owner = owner
        self.mysqldPID = mysqldPID
        self.queue = queue
        self.direction = direction
        self.connection = connection
    }

    var setName: String { "q\(queue)" }

    /// Also the xtables rules' comment, so that their deletion can be rebuilt from the record.

    /// `myconn delay o=812 p=100 q=41000 d=to-client i=9 c=77`.
    public var comment: String {
        "myconn delay o=\(owner) p=\(mysqldPID) q=\(queue) d=\(direction.rawValue) i=\(connection.inode) c=\(connection.cookie)"
    }

    /// The commands that write the record.
    var add: String {
        let c = connection
        let type = c.isIPv4 ? "ipv4_addr" : "ipv6_addr"
        return """
            add table inet \(FaultRuleset.table)
            create set inet \(FaultRuleset.table) \(setName) { type \(type) . inet_service . \(type) . inet_service; comment "\(comment)"; }
            add element inet \(FaultRuleset.table) \(setName) { \(c.server.ip.description) . \(c.server.port) . \(c.client.ip.description) . \(c.client.port) }

            """
    }

    var remove: String { "delete set inet \(FaultRuleset.table) \(setName)\n" }

    /// The delay records in listings of our tables.
    static func parse(listings: [String]) throws -> [DelayRecord] {
        var out: [DelayRecord] = []
        for l in listings {
            for item in try JSONDecoder().decode(FaultRuleset.Listing.self, from: Data(l.utf8)).nftables {
                guard let s = item.set, s.family == "inet", s.table == FaultRuleset.table, let comment = s.comment,
                      comment.hasPrefix("myconn delay "), let t = s.elem?.first?.tuple, t.count == 4 else { continue }
                var f: [Substring: Substring] = [:]
                for w in comment.split(separator: " ").dropFirst(2) {
                    guard let eq = w.firstIndex(of: "=") else { continue }
                    f[w[..<eq]] = w[w.index(after: eq)...]
                }
                guard let owner = f["o"].flatMap({ Int32($0) }), let pid = f["p"].flatMap({ Int32($0) }), let q = f["q"].flatMap({ UInt16($0) }),
                      let d = f["d"].flatMap({ FaultDirection(rawValue: String($0)) }), let inode = f["i"].flatMap({ UInt64($0) }),
                      let cookie = f["c"].flatMap({ UInt64($0) }), let sip = IPAddress(text: t[0]), let sport = UInt16(t[1]),
                      let cip = IPAddress(text: t[2]), let cport = UInt16(t[3]) else { continue }
                out.append(DelayRecord(owner: owner, mysqldPID: pid, queue: q, direction: d,
                                       connection: FaultConnection(server: SocketAddress(ip: sip, port: sport), client: SocketAddress(ip: cip, port: cport),
                                                                   inode: inode, cookie: cookie)))
            }
        }
        return out
    }
}
