import FoundationEssentials
import MyConnCore

/// A request body's value: the API takes flat objects of strings, numbers and booleans only.
enum BodyValue: Decodable, Equatable {
    case bool(Bool)
    case number(Double)
    case string(String)

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let n = try? c.decode(Double.self) { self = .number(n); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a string, number or boolean")
    }
}

/// Why a body was refused: the 400's one line.
struct BadRequest: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// A body read strictly: a JSON object (or nothing at all), only the keys the endpoint knows,
/// each of its type and in its range. Anything else is refused whole, before anything is done.
struct RequestBody {
    private var values: [String: BodyValue]
    private var used: Set<String> = []

    init(_ bytes: [UInt8]) throws(BadRequest) {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            values = [:]
            return
        }
        do {
            values = try JSONDecoder().decode([String: BodyValue].self, from: Data(bytes))
        } catch {
            throw BadRequest("the body must be one JSON object of strings, numbers and booleans")
        }
    }

    mutating func bool(_ key: String) throws(BadRequest) -> Bool? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case .bool(let b)?: return b
        default: throw BadRequest("\"\(key)\" must be true or false")
        }
    }

    mutating func number(_ key: String, in range: ClosedRange<Double>) throws(BadRequest) -> Double? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case .number(let n)? where range.contains(n): return n
        default: throw BadRequest("\"\(key)\" must be a number from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))")
        }
    }

    mutating func string(_ key: String, oneOf allowed: [String]) throws(BadRequest) -> String? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case .string(let s)? where allowed.contains(s): return s
        default: throw BadRequest("\"\(key)\" must be one of: " + allowed.joined(separator: ", "))
        }
    }

    /// `"for"`: `"500ms"`, `"3s"`, `"2m"`, or a number of seconds.
    mutating func duration(_ key: String) throws(BadRequest) -> Double? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case .number(let n)? where n >= 0.001 && n <= 86400: return n
        case .string(let s)?:
            if let v = FaultDuration.seconds(s) { return v }
            fallthrough
        default: throw BadRequest("\"\(key)\" must be a duration: \"500ms\", \"3s\", \"2m\", \"1h\", or seconds (up to 86400)")
        }
    }

    /// After the endpoint read its keys: any other key is a mistake worth a 400, not a silence.
    func finish() throws(BadRequest) {
        if let k = values.keys.sorted().first(where: { !used.contains($0) }) {
            throw BadRequest("unknown key \"\(TerminalText.escape(k))\"; this endpoint takes: " + used.sorted().joined(separator: ", "))
        }
    }

    static func format(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}

/// What one action request asks for, read from its body.
enum ActionRequest: Sendable, Equatable {
    case kill(query: Bool)
    case close(CloseMethod)
    case probe(timeout: Double)
    case fault(FaultRequest)

    enum Verb: String { case kill, close, probe, faults }
}

enum FaultRequest: Sendable, Equatable {
    case network(FaultKind, FaultDirection, seconds: Double?)
    /// Toxiproxy's latency: each packet held `milliseconds`, plus or minus `jitter`.
    case delay(milliseconds: Int, jitter: Int, FaultDirection, seconds: Double?)
    case reset
    case halfClose(HalfClose.Side)
}

/// The options every action takes besides its own.
struct ActionOptions: Sendable, Equatable {
    var dryRun = false
    /// nil: the server's `--wait`.
    var wait: Double?
}

extension ActionRequest {
    /// Reads `verb`'s body: `kill` `{"query"}`, `close` `{"method"}`, `probe` `{"timeout"}`,
    /// `faults` `{"type", "direction"|"stream", "percent", "kbit"|"rate", "latency", "jitter", "side", "for"}`; all
    /// take `{"dry_run", "wait"}`. Toxiproxy's names are taken too: `timeout` (a blackhole),
    /// `bandwidth` (`rate` in KB/s), `latency` (a delay, with `jitter`), `reset_peer`, and `stream`
    /// upstream/downstream.
    static func read(_ verb: Verb, body bytes: [UInt8]) throws(BadRequest) -> (ActionRequest, ActionOptions) {
        var b = try RequestBody(bytes)
        var options = ActionOptions()
        options.dryRun = try b.bool("dry_run") ?? false
        options.wait = try b.number("wait", in: 0...60)
        let request: ActionRequest
        switch verb {
        case .kill:
            request = .kill(query: try b.bool("query") ?? false)
        case .close:
            let m = try b.string("method", oneOf: CloseMethod.allCases.map(\.rawValue)) ?? "pidfd"
            request = .close(CloseMethod(rawValue: m)!)
        case .probe:
            // At most a minute: the engine does one thing at a time, and snapshots wait for a probe.
            request = .probe(timeout: try b.number("timeout", in: 5...60) ?? 10)
        case .faults:
            request = .fault(try readFault(&b))
        }
        try b.finish()
        return (request, options)
    }

    private static func readFault(_ b: inout RequestBody) throws(BadRequest) -> FaultRequest {
        let types = ["blackhole", "timeout", "loss", "rate", "bandwidth", "latency", "delay", "reset", "reset_peer", "half-close"]
        guard let type = try b.string("type", oneOf: types) else { throw BadRequest("\"type\" is required: one of " + types.joined(separator: ", ")) }
        let direction = try b.string("direction", oneOf: FaultDirection.allCases.map(\.rawValue))
        let stream = try b.string("stream", oneOf: ["upstream", "downstream"])
        if direction != nil && stream != nil { throw BadRequest("give \"direction\" or Toxiproxy's \"stream\", not both") }
        let dir = direction.flatMap(FaultDirection.init(rawValue:)) ?? stream.map { $0 == "upstream" ? .toServer : .toClient } ?? .both
        let seconds = try b.duration("for")
        var needs: (String, Double?)?
        let kind: FaultKind
        switch type {
        case "blackhole", "timeout": kind = .blackhole
        case "loss":
            guard let p = try b.number("percent", in: 0.1...100) else { throw BadRequest("a loss needs \"percent\", 0.1-100") }
            kind = .loss(percent: p)
        case "rate":
            guard let k = try b.number("kbit", in: 1...10_000_000), k == k.rounded() else { throw BadRequest("a rate needs \"kbit\", a whole number of kbit/s (1 or more)") }
            kind = .rate(kbit: UInt64(k))
        case "latency", "delay":
            guard let ms = try b.number("latency", in: 1...60000), ms == ms.rounded() else {
                throw BadRequest("a delay needs \"latency\", whole milliseconds, 1-60000")
            }
            let jitter = try b.number("jitter", in: 0...ms) ?? 0
            guard jitter == jitter.rounded() else { throw BadRequest("\"jitter\" is whole milliseconds, up to the latency") }
            return .delay(milliseconds: Int(ms), jitter: Int(jitter), dir, seconds: seconds)
        case "bandwidth":
            guard let r = try b.number("rate", in: 1...1_250_000), r == r.rounded() else { throw BadRequest("a bandwidth needs \"rate\", a whole number of KB/s (1 or more)") }
            kind = .rate(kbit: UInt64(r) * 8)
        default:
            needs = (type, seconds)
            kind = .blackhole
        }
        if let (once, seconds) = needs {
            if seconds != nil || direction != nil || stream != nil { throw BadRequest("\(once) acts once: no \"for\", \"direction\" or \"stream\"") }
            if once == "half-close" {
                guard let side = try b.string("side", oneOf: HalfClose.Side.allCases.map(\.rawValue)) else {
                    throw BadRequest("a half-close needs \"side\": read or write")
                }
                return .halfClose(HalfClose.Side(rawValue: side)!)
            }
            return .reset
        }
        return .network(kind, dir, seconds: seconds)
    }
}
