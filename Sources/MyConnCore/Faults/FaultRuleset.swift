import FoundationEssentials

/// The nftables side of faults, as text in and JSON out, with no kernel in between (tested on
/// recorded listings). Everything of ours is in one table, `inet myconn`, of mysqld's network
/// namespace: two base chains (input: the client's packets to mysqld; output: mysqld's to the
/// client), and per fault one set per direction holding that connection's 4-tuple and one rule
/// per set that looks the packet up in it. With `--for` the elements carry a kernel timeout, so
/// a fault ends on time even when no myconn is left to heal it.
public enum FaultRuleset {
    public static let table = "myconn"
    /// Before the usual filter priority (0): our drops see the packet before a firewall accepts it.
    static let priority = -150

    /// The commands that add fault `record` (one transaction). `seconds`: the elements' timeout.
    public static func add(_ record: FaultRecord, seconds: Double?) -> String {
        let c = record.connection
        let (ip, type) = c.isIPv4 ? ("ip", "ipv4_addr") : ("ip6", "ipv6_addr")
        let comment = Self.comment(record)
        var out = """
            add table inet \(table)
            add chain inet \(table) input { type filter hook input priority \(priority); policy accept; }
            add chain inet \(table) output { type filter hook output priority \(priority); policy accept; }

            """
        let timeout = seconds.map { " timeout \(max(1, Int(($0 * 1000).rounded())))ms" } ?? ""
        for (dir, chain, src, dst) in [(FaultDirection.toServer, "input", c.client, c.server), (.toClient, "output", c.server, c.client)] {
            guard dir == .toServer ? record.direction.toServer : record.direction.toClient else { continue }
            let set = setName(record.id, chain: chain)
            out += """
                add set inet \(table) \(set) { type \(type) . inet_service . \(type) . inet_service; flags timeout; comment "\(comment)"; }
                add element inet \(table) \(set) { \(src.ip.description) . \(src.port) . \(dst.ip.description) . \(dst.port)\(timeout) }
                add rule inet \(table) \(chain) \(ip) saddr . tcp sport . \(ip) daddr . tcp dport @\(set) \(verdict(record.kind)) comment "\(comment)"

                """
        }
        return out
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

    static func setName(_ id: Int, chain: String) -> String { "f\(id)_\(chain == "input" ? "in" : "out")" }

    /// `myconn f=3 s=45 i=123 c=456 k=loss:30 d=both t=1764650000 u=1764650003` (at most 128
    /// bytes, nftables' limit): everything ``FaultRecord`` holds, read back by ``parseComment(_:)``.
    public static func comment(_ r: FaultRecord) -> String {
        let c = r.connection
        return "myconn f=\(r.id) s=\(r.session.map(String.init) ?? "-") i=\(c.inode) c=\(c.cookie) k=\(r.kind.token) "
            + "d=\(r.direction.rawValue) t=\(r.created) u=\(r.until.map(String.init) ?? "-")"
    }

    /// The record of a comment of ours (the 4-tuple comes from the set's element or the rule's
    /// set; here the caller supplies it). nil for anything else.
    static func parseComment(_ text: String) -> (id: Int, session: UInt64?, inode: UInt64, cookie: UInt64, kind: FaultKind,
                                                 direction: FaultDirection, created: Int64, until: Int64?)? {
        let words = text.split(separator: " ")
        guard words.first == "myconn" else { return nil }
        var f: [Substring: Substring] = [:]
        for w in words.dropFirst() {
            guard let eq = w.firstIndex(of: "=") else { return nil }
            f[w[..<eq]] = w[w.index(after: eq)...]
        }
        guard let id = f["f"].flatMap({ Int($0) }), let inode = f["i"].flatMap({ UInt64($0) }),
              let cookie = f["c"].flatMap({ UInt64($0) }), let kind = f["k"].flatMap(FaultKind.init(token:)),
              let dir = f["d"].flatMap({ FaultDirection(rawValue: String($0)) }), let created = f["t"].flatMap({ Int64($0) })
        else { return nil }
        let session = f["s"] == "-" ? nil : f["s"].flatMap { UInt64($0) }
        let until = f["u"] == "-" ? nil : f["u"].flatMap { Int64($0) }
        return (id, session, inode, cookie, kind, dir, created, until)
    }

    /// A fault found in the table: its record, where it is, and whether its elements are still
    /// there (an element whose timeout passed is gone: the fault no longer matches anything).
    public struct Installed: Sendable, Equatable {
        public var record: FaultRecord
        /// Every rule of the fault: chain and handle.
        public var rules: [Rule]
        public var sets: [String]
        /// Elements left in the fault's sets; 0 once the kernel expired them.
        public var elements: Int
        /// Seconds until the kernel drops them, as the listing says (nil: no timeout).
        public var expiresIn: Double?

        public struct Rule: Sendable, Equatable {
            public var chain: String
            public var handle: Int
        }

        public var expired: Bool { elements == 0 }
    }

    /// The faults in a listing of our table (`list table inet myconn` with JSON and handles).
    /// - Throws: when the text is not nftables' JSON.
    public static func parse(listing: String) throws -> [Installed] {
        let doc = try JSONDecoder().decode(Listing.self, from: Data(listing.utf8))
        var byID: [Int: Installed] = [:]
        for item in doc.nftables {
            if let s = item.set, s.table == table, let comment = s.comment, let meta = parseComment(comment) {
                let elems = s.elem ?? []
                guard var entry = byID[meta.id] ?? installed(meta, tuple: elems.first?.tuple, chain: s.name.hasSuffix("_in") ? "input" : "output") else { continue }
                entry.sets.append(s.name)
                entry.elements += elems.count
                if let e = elems.compactMap(\.expires).min() { entry.expiresIn = min(entry.expiresIn ?? e, e) }
                if entry.record.connection.server.port == 0, let t = elems.first?.tuple,
                   let fixed = installed(meta, tuple: t, chain: s.name.hasSuffix("_in") ? "input" : "output") {
                    entry.record = fixed.record
                }
                byID[meta.id] = entry
            }
        }
        for item in doc.nftables {
            guard let r = item.rule, r.table == table, let comment = r.comment, let meta = parseComment(comment) else { continue }
            let entry = byID[meta.id] ?? installed(meta, tuple: nil, chain: r.chain)!
            var e = entry
            e.rules.append(.init(chain: r.chain, handle: r.handle))
            byID[meta.id] = e
        }
        return byID.values.sorted { $0.record.id < $1.record.id }
    }

    /// A record from a comment and an element's 4-tuple (source . sport . destination . dport),
    /// turned round for the input chain's (the client's packets).
    static func installed(_ m: (id: Int, session: UInt64?, inode: UInt64, cookie: UInt64, kind: FaultKind, direction: FaultDirection,
                                created: Int64, until: Int64?), tuple: [String]?, chain: String) -> Installed? {
        var server = SocketAddress(ip: .v4(0, 0, 0, 0), port: 0), client = server
        if let t = tuple, t.count == 4, let a = IPAddress(text: t[0]), let ap = UInt16(t[1]), let b = IPAddress(text: t[2]), let bp = UInt16(t[3]) {
            let src = SocketAddress(ip: a, port: ap), dst = SocketAddress(ip: b, port: bp)
            (server, client) = chain == "input" ? (dst, src) : (src, dst)
        }
        let conn = FaultConnection(server: server, client: client, inode: m.inode, cookie: m.cookie)
        let record = FaultRecord(id: m.id, session: m.session, connection: conn, kind: m.kind, direction: m.direction,
                                 created: m.created, until: m.until)
        return Installed(record: record, rules: [], sets: [], elements: 0, expiresIn: nil)
    }

    /// The commands that remove `faults`, and the table itself when nothing of ours is left.
    public static func remove(_ faults: [Installed], leavingOthers: Bool) -> String {
        var out = ""
        for f in faults {
            for r in f.rules { out += "delete rule inet \(table) \(r.chain) handle \(r.handle)\n" }
            for s in f.sets { out += "delete set inet \(table) \(s)\n" }
        }
        if !leavingOthers { out += "delete table inet \(table)\n" }
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
        var name: String
        var table: String
        var comment: String?
        var elem: [Element]?
    }

    struct RuleItem: Decodable {
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
