import FoundationEssentials

/// The nftables side of faults, as text in and JSON out, with no kernel in between (tested on
/// recorded listings). Everything of ours is in two tables named `myconn` in mysqld's network
/// namespace. The client's packets to mysqld meet `inet myconn`'s input chain; mysqld's packets
/// to the client meet `netdev myconn`'s egress chains, one per interface, after TCP has sent
/// them: a drop there is a drop on the wire (TCP retransmits, as across a pulled cable), where a
/// drop in the output hook would hand TCP an error and no packet would count as in flight
/// (measured: `notsent` grew, `unacked` stayed 0). Per fault there is one set per direction
/// holding the connection's 4-tuple, and rules that look packets up in it. With `--for` the
/// elements carry a kernel timeout, so a fault ends on time even when no myconn is left.
public enum FaultRuleset {
    public static let table = "myconn"
    /// Before the usual filter priority (0): our drops see the packet before a firewall accepts it.
    static let priority = -150

    /// The commands that add fault `record` (one transaction). `seconds`: the elements'
    /// timeout; `interfaces`: the namespace's, each of which gets an egress chain. The sets are
    /// *created*: a set of that name made meanwhile by another myconn fails the transaction
    /// (`add` would quietly share it, and each fault's rule would match the other's tuple).
    public static func add(_ record: FaultRecord, seconds: Double?, interfaces: [(index: UInt32, name: String)]) -> String {
        let c = record.connection
        let (ip, type) = c.isIPv4 ? ("ip", "ipv4_addr") : ("ip6", "ipv6_addr")
        let comment = Self.comment(record)
        let timeout = seconds.map { " timeout \(max(1, Int(($0 * 1000).rounded())))ms" } ?? ""
        let match = "\(ip) saddr . tcp sport . \(ip) daddr . tcp dport"
        func set(_ family: String, _ name: String, _ src: SocketAddress, _ dst: SocketAddress) -> String {
            """
            create set \(family) \(table) \(name) { type \(type) . inet_service . \(type) . inet_service; flags timeout; comment "\(comment)"; }
            add element \(family) \(table) \(name) { \(src.ip.description) . \(src.port) . \(dst.ip.description) . \(dst.port)\(timeout) }

            """
        }
        var out = ""
        if record.direction.toServer {
            let name = setName(record.id, input: true)
            out += """
                add table inet \(table)
                add chain inet \(table) input { type filter hook input priority \(priority); policy accept; }

                """
            out += set("inet", name, c.client, c.server)
            out += "add rule inet \(table) input \(match) @\(name) \(verdict(record.kind)) comment \"\(comment)\"\n"
        }
        if record.direction.toClient {
            let name = setName(record.id, input: false)
            out += "add table netdev \(table)\n"
            out += set("netdev", name, c.server, c.client)
            for i in interfaces where usable(i.name) {
                let chain = "egress_\(i.index)"
                out += """
                    add chain netdev \(table) \(chain) { type filter hook egress device "\(i.name)" priority \(priority); policy accept; }
                    add rule netdev \(table) \(chain) \(match) @\(name) \(verdict(record.kind)) comment "\(comment)"

                    """
            }
        }
        return out
    }

    /// An interface name that can stand in quotes in nftables' syntax as it is.
    static func usable(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || [0x2D, 0x2E, 0x5F, 0x40].contains(b)
        }
    }

    /// The statement that acts on a matched packet.
    static func verdict(_ kind: FaultKind) -> String {
        switch kind {
        case .blackhole: return "drop"
        case .loss(let p): return "numgen random mod 1000 < \(Int((p * 10).rounded())) drop"
        case .rate(let kbit):
            // Bytes per second; a burst of a few full segments so that a rate well above the
            // traffic drops nothing.
            let bytes = max(1, kbit * 1000 / 8)
            return "limit rate over \(bytes) bytes/second burst \(max(64 * 1024, bytes / 10)) bytes drop"
        }
    }

    static func setName(_ id: Int, input: Bool) -> String { "f\(id)_\(input ? "in" : "out")" }

    /// `myconn f=3 p=812 s=45 i=123 c=456 k=loss:30 d=both t=1764650000 u=1764650003` (at most 128
    /// bytes, nftables' limit): everything ``FaultRecord`` holds, read back by ``parseComment(_:)``.
    public static func comment(_ r: FaultRecord) -> String {
        let c = r.connection
        return "myconn f=\(r.id) p=\(r.mysqldPID) s=\(r.session.map(String.init) ?? "-") i=\(c.inode) c=\(c.cookie) k=\(r.kind.token) "
            + "d=\(r.direction.rawValue) t=\(r.created) u=\(r.until.map(String.init) ?? "-")"
    }

    /// The record of a comment of ours (the 4-tuple comes from the set's element or the rule's
    /// set; here the caller supplies it). nil for anything else.
    static func parseComment(_ text: String) -> (id: Int, pid: Int32, session: UInt64?, inode: UInt64, cookie: UInt64, kind: FaultKind,
                                                 direction: FaultDirection, created: Int64, until: Int64?)? {
        let words = text.split(separator: " ")
        guard words.first == "myconn" else { return nil }
        var f: [Substring: Substring] = [:]
        for w in words.dropFirst() {
            guard let eq = w.firstIndex(of: "=") else { return nil }
            f[w[..<eq]] = w[w.index(after: eq)...]
        }
        guard let id = f["f"].flatMap({ Int($0) }), let pid = f["p"].flatMap({ Int32($0) }), let inode = f["i"].flatMap({ UInt64($0) }),
              let cookie = f["c"].flatMap({ UInt64($0) }), let kind = f["k"].flatMap(FaultKind.init(token:)),
              let dir = f["d"].flatMap({ FaultDirection(rawValue: String($0)) }), let created = f["t"].flatMap({ Int64($0) })
        else { return nil }
        let session = f["s"] == "-" ? nil : f["s"].flatMap { UInt64($0) }
        let until = f["u"] == "-" ? nil : f["u"].flatMap { Int64($0) }
        return (id, pid, session, inode, cookie, kind, dir, created, until)
    }

    /// A fault found in the table: its record, where it is, and whether its elements are still
    /// there (an element whose timeout passed is gone: the fault no longer matches anything).
    public struct Installed: Sendable, Equatable {
        public var record: FaultRecord
        /// Every rule of the fault: family, chain and handle.
        public var rules: [Rule]
        /// Its sets, as `family name`.
        public var sets: [String]
        /// Elements left in the fault's sets; 0 once the kernel expired them.
        public var elements: Int
        /// Seconds until the kernel drops them, as the listing says (nil: no timeout).
        public var expiresIn: Double?

        public struct Rule: Sendable, Equatable {
            /// `inet` (the input chain) or `netdev` (an interface's egress chain).
            public var family: String
            public var chain: String
            public var handle: Int

            /// `inet input#4`, `netdev egress_1#6`: as `--list` and the outcome name it.
            public var label: String { "\(family) \(chain)#\(handle)" }
        }

        public var expired: Bool { elements == 0 }
    }

    /// The faults in a listing of our table (`list table inet myconn` with JSON and handles).
    /// - Throws: when the text is not nftables' JSON.
    public static func parse(listing: String) throws -> [Installed] { try parse(listings: [listing]) }

    /// The faults in the listings of our tables (one per family), together.
    public static func parse(listings: [String]) throws -> [Installed] {
        var items: [Item] = []
        for l in listings { items += try JSONDecoder().decode(Listing.self, from: Data(l.utf8)).nftables }
        var byID: [Int: Installed] = [:]
        for item in items {
            if let s = item.set, s.table == table, let comment = s.comment, let meta = parseComment(comment) {
                let elems = s.elem ?? []
                guard var entry = byID[meta.id] ?? installed(meta, tuple: elems.first?.tuple, chain: s.name.hasSuffix("_in") ? "input" : "output") else { continue }
                entry.sets.append("\(s.family) \(s.name)")
                entry.elements += elems.count
                if let e = elems.compactMap(\.expires).min() { entry.expiresIn = min(entry.expiresIn ?? e, e) }
                if entry.record.connection.server.port == 0, let t = elems.first?.tuple,
                   let fixed = installed(meta, tuple: t, chain: s.name.hasSuffix("_in") ? "input" : "output") {
                    entry.record = fixed.record
                }
                byID[meta.id] = entry
            }
        }
        for item in items {
            guard let r = item.rule, r.table == table, let comment = r.comment, let meta = parseComment(comment) else { continue }
            let entry = byID[meta.id] ?? installed(meta, tuple: nil, chain: r.chain == "input" ? "input" : "output")!
            var e = entry
            e.rules.append(.init(family: r.family, chain: r.chain, handle: r.handle))
            byID[meta.id] = e
        }
        return byID.values.sorted { $0.record.id < $1.record.id }
    }

    /// A record from a comment and an element's 4-tuple (source . sport . destination . dport),
    /// turned round for the input chain's (the client's packets).
    static func installed(_ m: (id: Int, pid: Int32, session: UInt64?, inode: UInt64, cookie: UInt64, kind: FaultKind, direction: FaultDirection,
                                created: Int64, until: Int64?), tuple: [String]?, chain: String) -> Installed? {
        var server = SocketAddress(ip: .v4(0, 0, 0, 0), port: 0), client = server
        if let t = tuple, t.count == 4, let a = IPAddress(text: t[0]), let ap = UInt16(t[1]), let b = IPAddress(text: t[2]), let bp = UInt16(t[3]) {
            let src = SocketAddress(ip: a, port: ap), dst = SocketAddress(ip: b, port: bp)
            (server, client) = chain == "input" ? (dst, src) : (src, dst)
        }
        let conn = FaultConnection(server: server, client: client, inode: m.inode, cookie: m.cookie)
        let record = FaultRecord(id: m.id, mysqldPID: m.pid, session: m.session, connection: conn, kind: m.kind, direction: m.direction,
                                 created: m.created, until: m.until)
        return Installed(record: record, rules: [], sets: [], elements: 0, expiresIn: nil)
    }

    /// The commands that remove `faults`, and the tables `emptied` (those with no fault left).
    public static func remove(_ faults: [Installed], dropTables emptied: [String]) -> String {
        var out = ""
        for f in faults {
            for r in f.rules { out += "delete rule \(r.family) \(table) \(r.chain) handle \(r.handle)\n" }
            for s in f.sets { out += "delete set \(s.split(separator: " ")[0]) \(table) \(s.split(separator: " ")[1])\n" }
        }
        for family in emptied { out += "delete table \(family) \(table)\n" }
        return out
    }

    /// The next free id among `faults`.
    public static func nextID(_ faults: [Installed]) -> Int { (faults.map(\.record.id).max() ?? 0) + 1 }

    // nftables' JSON (libnftables-json(5)): only what we read.
    struct Listing: Decodable {
        var nftables: [Item]
    }

    struct Item: Decodable {
        var set: SetItem?
        var rule: RuleItem?
    }

    struct SetItem: Decodable {
        var family: String
        var name: String
        var table: String
        var comment: String?
        var elem: [Element]?
    }

    struct RuleItem: Decodable {
        var family: String
        var table: String
        var chain: String
        var handle: Int
        var comment: String?
    }

    /// An element: `{"concat": [...]}`, or `{"elem": {"val": {"concat": [...]}, "timeout": 3, "expires": 2.5}}`.
    struct Element: Decodable {
        var tuple: [String]?
        var expires: Double?

        enum Keys: String, CodingKey { case concat, elem }
        enum ElemKeys: String, CodingKey { case val, expires }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            if let e = try? c.nestedContainer(keyedBy: ElemKeys.self, forKey: .elem) {
                expires = try? e.decode(Double.self, forKey: .expires)
                tuple = (try? e.decode(Concat.self, forKey: .val))?.concat.map(\.text)
            } else {
                tuple = (try? c.decode([Scalar].self, forKey: .concat))?.map(\.text)
            }
        }
    }

    struct Concat: Decodable { var concat: [Scalar] }

    /// An address (string) or a port (number) in a concatenation.
    struct Scalar: Decodable {
        var text: String
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { text = s } else { text = String(try c.decode(Int.self)) }
        }
    }
}
