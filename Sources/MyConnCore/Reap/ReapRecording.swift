import FoundationEssentials
import MySQLSessions
import SocketModel

/// Why a recording could not be read: one line, naming the line of the input it concerns.
public struct RecordingError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// `reap --test-matching FILE`: the snapshots a recording holds, rebuilt as the list reports
/// `ReapPolicy` judges. Pure: bytes in, reports out. Two kinds of recording, told apart by their
/// first character:
///
/// - `myconn list --json` documents (`{`, or `[` for a JSON array of them), one per line or
///   pretty-printed one after another: everything `reap` decides on comes back (the server, each
///   session's row, its socket and tcp_info, match, zombie classes, sessionless sockets,
///   warnings); listening sockets and `list`'s exit status do not.
/// - pt-kill's own `--test-matching` files: `SHOW FULL PROCESSLIST` as the `mariadb`/`mysql`
///   client prints it, read as pt-kill's TextResultSetParser reads it. A file holds snapshots
///   separated by blank lines (pt-kill reads it in paragraph mode); each is a `+---+` table, `\G`
///   rows or tab-separated text with a header line; a value `NULL` is NULL. Such a snapshot has
///   sessions only: no socket, no zombie class, `server.sql` true, the kernel source `proc`.
public enum ReapRecording {
    /// The snapshots of a recording, in order.
    /// - Throws: ``RecordingError`` naming the line where the input stops being a recording.
    public static func read(_ bytes: [UInt8]) throws(RecordingError) -> [ListReport] {
        guard let first = bytes.first(where: { !JSONRecording.isSpace($0) }) else {
            throw RecordingError("line 1: the recording is empty; " + expected)
        }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") { return try JSONRecording.read(bytes) }
        return try ProcessListText.read(String(decoding: bytes, as: UTF8.self))
    }

    static let expected = "expected `myconn list --json` documents, or SHOW FULL PROCESSLIST output "
        + "(a +---+ table, \\G rows or tab-separated with a header) as pt-kill --test-matching reads it"
}

// MARK: - myconn list --json

/// The documents of a JSON recording, split at their top level and decoded one by one.
enum JSONRecording {
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    static func read(_ bytes: [UInt8]) throws(RecordingError) -> [ListReport] {
        var out: [ListReport] = []
        var i = 0, line = 1
        while true {
            while i < bytes.count && isSpace(bytes[i]) { if bytes[i] == 0x0A { line += 1 }; i += 1 }
            guard i < bytes.count else { return out }
            let start = i, startLine = line
            guard bytes[i] == UInt8(ascii: "{") || bytes[i] == UInt8(ascii: "[") else {
                throw RecordingError("line \(line): expected a `myconn list --json` document ({...}) or an array of them")
            }
            // To the bracket that closes the first one, outside strings.
            var depth = 0, inString = false
            repeat {
                let b = bytes[i]
                if b == 0x0A { line += 1 }
                if inString {
                    if b == UInt8(ascii: "\\") { i += 1 } else if b == UInt8(ascii: "\"") { inString = false }
                } else if b == UInt8(ascii: "\"") {
                    inString = true
                } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                    depth += 1
                } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                    depth -= 1
                }
                i += 1
            } while depth > 0 && i < bytes.count
            guard depth == 0 else { throw RecordingError("line \(startLine): the JSON document that starts here does not end") }
            let text = Data(bytes[start..<i])
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            do {
                if bytes[start] == UInt8(ascii: "[") {
                    out += try decoder.decode([DocumentJSON].self, from: text).map(\.report)
                } else {
                    out.append(try decoder.decode(DocumentJSON.self, from: text).report)
                }
            } catch let e as DecodingError {
                if case .dataCorrupted(let c) = e, c.codingPath.isEmpty { throw syntaxError(text, line: startLine) }
                throw RecordingError("line \(startLine): " + describe(e))
            } catch {
                throw RecordingError("line \(startLine): not a `myconn list --json` document: \(error)")
            }
        }
    }

    /// JSONDecoder says only that the text is not JSON; ``JSONSyntax`` says where and why.
    static func syntaxError(_ text: Data, line: Int) -> RecordingError {
        guard let (at, what) = JSONSyntax.firstError(in: text) else { return RecordingError("line \(line): not valid JSON") }
        return RecordingError("line \(line + text.prefix(at).count { $0 == 0x0A }): not valid JSON: \(what)")
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            // The document's own spelling (the decoder's keys may be camel case).
            func snake(_ key: String) -> String {
                key.reduce(into: "") { out, c in out += c.isUppercase ? "_" + c.lowercased() : String(c) }
            }
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\(snake($0.stringValue))" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : text.isEmpty ? "the document" : text
        }
        let message: String
        switch e {
        case .typeMismatch(let type, let c): message = "\(path(c.codingPath)): expected \(name(type))"
        case .valueNotFound(let type, let c): message = "\(path(c.codingPath)): null where \(name(type)) is expected"
        case .keyNotFound(let key, let c): message = "\(path(c.codingPath + [key])): missing"
        case .dataCorrupted(let c): message = "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: message = "not a `myconn list --json` document"
        }
        return message.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func name(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int64.Type, is Int32.Type, is UInt32.Type, is UInt16.Type, is UInt8.Type: return "an integer"
        case is [Any].Type: return "an array"
        default: return "an object"
        }
    }
}

/// A name as `list --json` spells it (`"tcp4"`, `"CLOSE_WAIT"`, `"client-gone"`).
private protocol RecordedName { init?(recorded: String) }
extension Transport: RecordedName { fileprivate init?(recorded: String) { self.init(rawValue: recorded) } }
extension MatchMethod: RecordedName { fileprivate init?(recorded: String) { self.init(rawValue: recorded) } }
extension ZombieClass: RecordedName { fileprivate init?(recorded: String) { self.init(rawValue: recorded) } }
extension KernelSource: RecordedName { fileprivate init?(recorded: String) { self.init(rawValue: recorded) } }
extension TCPState: RecordedName {
    fileprivate init?(recorded: String) {
        guard let s = TCPState.allCases.first(where: { $0.description == recorded }) else { return nil }
        self = s
    }
}
/// `a.b.c.d:port` or `[v6]:port`, as ``SocketAddress/description`` writes it.
extension SocketAddress: RecordedName {
    fileprivate init?(recorded: String) {
        guard let colon = recorded.lastIndex(of: ":"), let port = UInt16(recorded[recorded.index(after: colon)...]) else { return nil }
        var ip = recorded[..<colon]
        if ip.hasPrefix("[") && ip.hasSuffix("]") { ip = ip.dropFirst().dropLast() } else if ip.contains(":") { return nil }
        guard let address = IPAddress(text: String(ip)) else { return nil }
        self.init(ip: address, port: port)
    }
}

/// A value decoded from its recorded name; an unknown name is an error that quotes it.
private struct Named<T: RecordedName>: Decodable {
    let value: T

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let v = T(recorded: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown value \"\(text)\"")
        }
        value = v
    }
}

/// One `list --json` document, as README.md describes it (keys in snake case).
private struct DocumentJSON: Decodable {
    struct Server: Decodable {
        var pid: Int32?
        var version: String?
        var port: UInt16?
        var kernelSource: Named<KernelSource>
        var sql: Bool
        var sameNetworkNamespace: Bool?
    }

    /// The fields of a session's row, beside its socket's in the same object.
    struct Row: Decodable {
        var id: Int64
        var user, host, db, command: String?
        var time: Int64?
        var state, info: String?
        var match: Named<MatchMethod>?
        var unresolved: String?
        var zombie: [Named<ZombieClass>]
    }

    struct Client: Decodable {
        var pid: Int32
        var command: String
        var uid: UInt32?
        var fd: Int32
    }

    /// The kernel's columns (all null: no socket) and, for a sessionless socket, its classes.
    struct Socket: Decodable {
        var transport: Named<Transport>?
        var fd: Int32?
        var inode: Int64?
        var local: String?
        var peer: Named<SocketAddress>?
        var tcpState: Named<TCPState>?
        var sendQueue, recvQueue: UInt32?
        var rttUs: UInt32?
        var retransmits: UInt8?
        var totalRetrans: UInt32?
        var probes: UInt8?
        var unacked, lastRecvMs, lastSendMs: UInt32?
        var clients: [Client]?
        var zombie: [Named<ZombieClass>]?

        var view: SocketView? {
            guard fd != nil || inode != nil || local != nil || peer != nil || tcpState != nil || sendQueue != nil
                || recvQueue != nil || rttUs != nil, let transport = transport?.value else { return nil }
            var health: TCPHealth?
            if let rttUs {
                health = TCPHealth(state: tcpState?.value ?? .established, rttMicroseconds: rttUs, retransmits: retransmits ?? 0,
                                   probes: probes ?? 0, unacked: unacked ?? 0, lastReceiveMilliseconds: lastRecvMs ?? 0,
                                   lastSendMilliseconds: lastSendMs ?? 0)
                health?.totalRetransmits = totalRetrans ?? 0
            }
            let endpoint: SocketEndpoint? = local.map { text in
                SocketAddress(recorded: text).map(SocketEndpoint.inet) ?? .unix(path: text)
            }
            var v = SocketView(transport: transport, fd: fd, inode: inode.map { UInt64(bitPattern: $0) }, local: endpoint,
                               peer: peer?.value, tcpState: tcpState?.value, sendQueue: sendQueue, recvQueue: recvQueue,
                               health: health)
            v.clients = (clients ?? []).map { SocketOwner(pid: $0.pid, command: $0.command, uid: $0.uid, fd: $0.fd) }
            v.zombie = zombie?.map(\.value)
            return v
        }
    }

    struct Session: Decodable {
        var row: Row
        var socket: Socket

        init(from decoder: any Decoder) throws {
            row = try Row(from: decoder)
            socket = try Socket(from: decoder)
        }
    }

    var server: Server
    var sessions: [Session]
    var unmatchedSockets: [Socket]
    var warnings: [String]

    var report: ListReport {
        var server = ServerView(pid: self.server.pid, version: self.server.version, port: self.server.port,
                                kernelSource: self.server.kernelSource.value, sql: self.server.sql)
        server.sameNetworkNamespace = self.server.sameNetworkNamespace
        let views = sessions.map { s in
            let r = s.row
            let row = ProcessListRow(id: UInt64(bitPattern: r.id), user: r.user, host: r.host, db: r.db, command: r.command,
                                     time: r.time, state: r.state, info: r.info)
            var view = SessionView(row: row, transport: s.socket.transport?.value, socket: s.socket.view,
                                   match: r.match?.value, unresolved: r.unresolved)
            view.socket?.zombie = nil  // the object's `zombie` is the session's
            view.zombie = r.zombie.map(\.value)
            view.socketMissing = view.zombie.contains(.orphanSession)
            return view
        }
        let sockets = unmatchedSockets.map { k in
            k.view ?? SocketView(transport: k.transport?.value ?? .tcp4)
        }
        var report = ListReport(server: server, sessions: views, unmatchedSockets: sockets, listeningSockets: [],
                                warnings: warnings, kernelViewIncomplete: false)
        report.clientsLookedUp = sessions.contains { $0.socket.clients != nil } || unmatchedSockets.contains { $0.clients != nil }
        return report
    }
}

// MARK: - pt-kill's SHOW PROCESSLIST text

/// `SHOW FULL PROCESSLIST` text read as pt-kill 3.2's TextResultSetParser reads it, including its
/// limits: a table cell holding `|` or a line break, or a vertical value's second line, is not
/// recovered; tab-separated values are taken as printed (`mariadb -B` escapes stay escaped), and
/// empty values at the end of a tab-separated line are NULL (Perl's `split` drops them).
enum ProcessListText {
    typealias Line = (number: Int, text: Substring)

    static func read(_ text: String) throws(RecordingError) -> [ListReport] {
        var paragraphs: [[Line]] = [[]]
        // "\r\n" is one Character: split on both.
        for (n, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            if line.isEmpty {
                if !paragraphs[paragraphs.count - 1].isEmpty { paragraphs.append([]) }
            } else {
                paragraphs[paragraphs.count - 1].append((n + 1, line))
            }
        }
        var out: [ListReport] = []
        for lines in paragraphs where !lines.isEmpty {
            let rows: [[String: (line: Int, value: String?)]]
            if lines.contains(where: { $0.text.hasPrefix("+---") }) {
                rows = horizontal(lines.filter { $0.text.hasPrefix("| ") }, cells: tableCells)
            } else if lines.contains(where: { isTabHeader($0.text) }) {
                rows = horizontal(lines.filter { $0.text.contains("\t") }, cells: tabCells)
            } else if lines.contains(where: { $0.text.contains(/\*\*\* \d+\. row/) }) {
                rows = vertical(lines)
            } else {
                throw RecordingError("line \(lines[0].number): \(ReapRecording.expected)")
            }
            var sessions: [SessionView] = []
            for r in rows { sessions.append(try session(r, paragraphLine: lines[0].number)) }
            out.append(ListReport(server: ServerView(pid: nil, version: nil, port: nil, kernelSource: .proc, sql: true),
                                  sessions: sessions, unmatchedSockets: [], listeningSockets: [], warnings: [],
                                  kernelViewIncomplete: false))
        }
        return out
    }

    static func session(_ r: [String: (line: Int, value: String?)], paragraphLine: Int) throws(RecordingError) -> SessionView {
        guard let idText = r["id"], let id = idText.value.flatMap({ UInt64($0) }) else {
            let line = r["id"]?.line ?? r.values.map(\.line).min() ?? paragraphLine
            throw RecordingError("line \(line): a processlist row without a numeric Id")
        }
        let host = r["host"]?.value
        let transport: Transport?
        switch SessionEndpoint(host: host) {
        case .unixSocket: transport = .unix
        case .tcp(let a): transport = a.ip.normalized.isV6 ? .tcp6 : .tcp4
        default: transport = nil
        }
        let row = ProcessListRow(id: id, user: r["user"]?.value, host: host, db: r["db"]?.value, command: r["command"]?.value,
                                 time: r["time"]?.value.flatMap { Int64($0) }, state: r["state"]?.value, info: r["info"]?.value)
        return SessionView(row: row, transport: transport)
    }

    /// A table or tab-separated text: the first line names the columns, each other is a row.
    static func horizontal(_ lines: [Line], cells: (Substring) -> [Substring]) -> [[String: (line: Int, value: String?)]] {
        guard let header = lines.first else { return [] }
        let columns = cells(header.text).map { $0.lowercased() }
        return lines.dropFirst().map { line in
            var row: [String: (line: Int, value: String?)] = [:]
            for (c, v) in zip(columns, cells(line.text)) { row[c] = (line.number, value(v)) }
            return row
        }
    }

    /// pt-kill's `m/\| +([^\|]*?)(?= +\|)/g`: a cell opens and closes with a space; trimmed.
    static func tableCells(_ line: Substring) -> [Substring] {
        let parts = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
        return parts.compactMap { p in
            guard p.count >= 2, p.first == " ", p.last == " " else { return nil }
            let start = p.firstIndex { $0 != " " } ?? p.endIndex
            let end = p.lastIndex { $0 != " " }.map { p.index(after: $0) } ?? start
            return p[start..<max(start, end)]
        }
    }

    /// Perl's `split(/\t/)`: empty fields at the end are dropped.
    static func tabCells(_ line: Substring) -> [Substring] {
        var cells = line.split(separator: "\t", omittingEmptySubsequences: false)
        while cells.last?.isEmpty == true { cells.removeLast() }
        return cells
    }

    /// `\G` output: rows start at `*** N. row ***`; each `  Name: value` line is a column.
    static func vertical(_ lines: [Line]) -> [[String: (line: Int, value: String?)]] {
        var rows: [[String: (line: Int, value: String?)]] = []
        var inRow = false
        for line in lines {
            if isRowHeader(line.text) { rows.append([:]); inRow = true; continue }
            guard inRow else { continue }
            let t = line.text.drop { $0.isWhitespace }
            let name = t.prefix { isWordCharacter($0) }
            let rest = t.dropFirst(name.count)
            guard !name.isEmpty, rest.first == ":" else { continue }
            let after = rest.dropFirst()
            // pt-kill's `(\w+):(?: ([^\n]*))?`: no space after the colon is NULL, ": " alone is empty.
            rows[rows.count - 1][name.lowercased()] = (line.number, after.first == " " ? value(after.dropFirst()) : nil)
        }
        return rows
    }

    static func value(_ text: Substring) -> String? { text == "NULL" ? nil : String(text) }

    static func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }

    /// pt-kill's `m/^\w+\t\w+/`.
    static func isTabHeader(_ line: Substring) -> Bool {
        let first = line.prefix { isWordCharacter($0) }
        let rest = line.dropFirst(first.count)
        return !first.isEmpty && rest.first == "\t" && rest.dropFirst().first.map(isWordCharacter) == true
    }

    /// pt-kill's `\*{3,} \d+\. row \*{3,}`, which starts a `\G` row.
    static func isRowHeader(_ line: Substring) -> Bool {
        line.contains(/\*{3,} \d+\. row \*{3,}/)
    }
}
