#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Hummingbird
import MyConnCore
import NIOCore
import Synchronization

/// The request context: Hummingbird's, plus who is at the other end (for the audit log).
struct ServeContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remote: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        if let a = source.channel.remoteAddress, let ip = a.ipAddress {
            remote = ip.contains(":") ? "[\(ip)]:\(a.port ?? 0)" : "\(ip):\(a.port ?? 0)"
        } else {
            remote = "unix"
        }
    }
}

extension APIReply: ResponseGenerator {
    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"myconn\"" }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Errors Hummingbird raises itself (no such route, a body over the limit) in the API's own
/// shape, `{"error", "status"}`.
struct ErrorShape<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError {
            let message = e.body ?? (e.status.code == 404 ? "no such endpoint: \(request.method) \(request.uri.path) (see docs/serve-openapi.yaml)" : e.status.reasonPhrase)
            return try APIReply.error(e.status.code, message).response(from: request, context: context)
        } catch {
            return try APIReply.error(500, "internal error").response(from: request, context: context)
        }
    }
}

/// Who may do what: reads are open on loopback and unix sockets, and need the token anywhere
/// else; every action needs the token, and without `--token-file` no action is possible. A
/// browser's request (an `Origin` header, or a `Host` that is not this server's loopback name)
/// is refused whatever it carries: a web page must not reach the API through the DBA's browser.
struct Gatekeeper: Sendable {
    let token: [UInt8]?
    let listen: ListenAddress
    let audit: @Sendable (String) -> Void
    let refusals: Refusals

    enum Kind { case read, action }

    func check(_ request: Request, _ context: ServeContext, _ kind: Kind) -> APIReply? {
        if request.headers[.origin] != nil {
            return .error(403, "requests from a browser (with an Origin header) are refused")
        }
        if case .tcp = listen, listen.isLocal, let host = request.head.authority, !Self.loopbackHost(host) {
            return .error(403, "Host \(TerminalText.escape(host)) is not this server's loopback address (DNS rebinding is refused)")
        }
        if kind == .read && listen.isLocal { return nil }
        guard let token else {
            return .error(403, kind == .action ? "actions are off: start serve with --token-file" : "reads need a token here: start serve with --token-file")
        }
        let given = request.headers[.authorization]
        let why: String
        if let given, given.hasPrefix("Bearer ") {
            if Self.equal(Array(given.utf8.dropFirst(7)), token) { return nil }
            why = "wrong token"
        } else {
            why = given == nil ? "no token" : "not a Bearer token"
        }
        refusals.count()
        guard refusals.mayRecord() else { return .error(401, "\(why): send Authorization: Bearer <the token of --token-file>") }
        let w = JSONWriter()
        w.object {
            w.field("time", AuditLog.timestamp())
            w.field("uid", Int64(AuditLog.uid))
            w.field("action", "http")
            w.field("method", "auth")
            w.field("phase", "refused")
            w.field("front_end", "serve")
            w.field("remote", context.remote)
            w.field("request", "\(request.method) \(request.uri.path)")
            w.field("outcome", "unauthorized")
            w.field("message", why)
        }
        audit(w.text)
        return .error(401, "\(why): send Authorization: Bearer <the token of --token-file>")
    }

    /// `localhost`, `127.x.y.z`, `[::1]`, with or without a port.
    static func loopbackHost(_ host: String) -> Bool {
        var h = Substring(host)
        if h.hasPrefix("[") {
            guard let end = h.firstIndex(of: "]") else { return false }
            h = h[h.index(after: h.startIndex)..<end]
        } else if let colon = h.lastIndex(of: ":") {
            h = h[..<colon]
        }
        if h.lowercased() == "localhost" { return true }
        return ListenAddress.tcp(host: String(h), port: 0).isLocal
    }

    /// Compares in time that does not depend on where the first difference is.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) { diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return diff == 0
    }
}

/// Refused tokens: each counted (`myconn_http_unauthorized_total`), and on record in the audit
/// log up to 10 a minute, so that whoever can reach the port cannot fill the disk with them.
final class Refusals: Sendable {
    static let perMinute = 10
    private let window = Mutex<(start: Double, recorded: Int)>((0, 0))
    let counter: @Sendable () -> Void

    init(counter: @escaping @Sendable () -> Void) { self.counter = counter }

    func count() { counter() }

    func mayRecord(now: Double = Deadline.now()) -> Bool {
        window.withLock { w in
            if now - w.start >= 60 { w = (now, 0) }
            guard w.recorded < Self.perMinute else { return false }
            w.recorded += 1
            return true
        }
    }
}

enum Routes {
    static func router(engine: Engine, gate: Gatekeeper, maxBody: Int) -> Router<ServeContext> {
        let router = Router(context: ServeContext.self)
        router.add(middleware: ErrorShape())
        let metrics = engine.metrics

        router.get("/metrics") { request, context -> Response in
            if let refused = gate.check(request, context, .read) { return try refused.response(from: request, context: context) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        router.get("/sessions") { request, context -> APIReply in
            if let refused = gate.check(request, context, .read) { return refused }
            guard let p = engine.published, !p.sessions.isEmpty else { return unavailable(engine) }
            return APIReply(status: 200, body: p.sessions)
        }
        router.get("/zombies") { request, context -> APIReply in
            if let refused = gate.check(request, context, .read) { return refused }
            guard let p = engine.published, !p.zombies.isEmpty else { return unavailable(engine) }
            return APIReply(status: 200, body: p.zombies)
        }
        router.get("/sessions/:id") { request, context -> APIReply in
            if let refused = gate.check(request, context, .read) { return refused }
            guard let id = sessionID(context) else { return badID(context) }
            return await engine.perform { $0.session(id) } ?? stopping
        }
        for verb in [ActionRequest.Verb.kill, .close, .probe, .faults] {
            router.post("/sessions/:id/\(verb.rawValue)") { request, context -> APIReply in
                if let refused = gate.check(request, context, .action) { return refused }
                guard let id = sessionID(context) else { return badID(context) }
                let bytes: [UInt8]
                switch await body(request, limit: maxBody) {
                case .failure(let r): return r
                case .success(let b): bytes = b
                }
                let parsed: (ActionRequest, ActionOptions)
                do throws(BadRequest) { parsed = try ActionRequest.read(verb, body: bytes) } catch { return .error(400, error.message + "; nothing was done") }
                let caller = Caller(remote: context.remote, path: "\(request.method) \(request.uri.path)")
                return await engine.perform { $0.act(parsed.0, parsed.1, on: id, caller: caller) } ?? stopping
            }
        }
        router.get("/faults") { request, context -> APIReply in
            if let refused = gate.check(request, context, .read) { return refused }
            let caller = Caller(remote: context.remote, path: "GET /faults")
            return await engine.perform { $0.listFaults(caller: caller) } ?? stopping
        }
        router.delete("/faults") { request, context -> APIReply in
            if let refused = gate.check(request, context, .action) { return refused }
            let caller = Caller(remote: context.remote, path: "DELETE /faults")
            return await engine.perform { $0.heal(id: nil, method: "heal", caller: caller) } ?? stopping
        }
        router.delete("/faults/:id") { request, context -> APIReply in
            if let refused = gate.check(request, context, .action) { return refused }
            guard let text = context.parameters.get("id"), let id = FaultID(text) else {
                return .error(400, "a fault id is a number, or delay-N for a delay (see GET /faults); nothing was done")
            }
            let caller = Caller(remote: context.remote, path: "DELETE /faults/\(text)")
            return await engine.perform { $0.heal(id: id, method: "heal", caller: caller) } ?? stopping
        }
        router.post("/reset") { request, context -> APIReply in
            if let refused = gate.check(request, context, .action) { return refused }
            switch await body(request, limit: maxBody) {
            case .failure(let r): return r
            case .success(let bytes):
                // No options: nothing, or {}.
                do throws(BadRequest) { try RequestBody(bytes).finish() } catch { return .error(400, error.message + "; nothing was done") }
            }
            let caller = Caller(remote: context.remote, path: "POST /reset")
            return await engine.perform { $0.heal(id: nil, method: "reset", caller: caller) } ?? stopping
        }
        return router
    }

    static let stopping = APIReply.error(503, "serve is stopping; nothing was done")

    static func unavailable(_ engine: Engine) -> APIReply {
        if case .unavailable(let why)? = engine.published?.snapshot.mode { return .error(503, "no view of mysqld now: \(why)") }
        return .error(503, "no snapshot yet; try again in a moment")
    }

    static func sessionID(_ context: ServeContext) -> UInt64? {
        context.parameters.get("id").flatMap { UInt64($0) }
    }

    static func badID(_ context: ServeContext) -> APIReply {
        .error(400, "a session id is a number (see GET /sessions); nothing was done")
    }

    /// The body, refused with 413 past `limit` bytes (by its Content-Length before reading it).
    static func body(_ request: Request, limit: Int) async -> Result<[UInt8], APIReply> {
        let tooLarge = APIReply.error(413, "the body is over \(limit) bytes; nothing was done")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { return .failure(tooLarge) }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return .success(Array(buffer.readableBytesView))
        } catch {
            return .failure(tooLarge)
        }
    }
}
