import MyConnCore

/// `myconn list --json`: the contract documented in README.md. Unknown values are `null`, never
/// absent; keys keep the documented order.
///
/// Written by hand rather than with Foundation's JSONEncoder: at thousands of sessions the
/// encoder cost more than reading the kernel's tables (measured: 28 ms of 93 at 1,000 sessions).
enum JSONReport {
    static func render(_ report: ListReport) -> [UInt8] {
        let w = JSONWriter()
        w.object {
            w.key("server")
            w.object {
                w.field("pid", report.server.pid.map(Int64.init))
                w.field("version", report.server.version)
                w.field("port", Int64(report.server.port))
                w.field("kernel_source", report.server.kernelSource.rawValue)
            }
            w.key("sessions")
            w.array(report.sessions) { s in
                w.object {
                    let r = s.row
                    w.field("id", Int64(bitPattern: r.id))
                    w.field("user", r.user)
                    w.field("host", r.host)
                    w.field("db", r.db)
                    w.field("command", r.command)
                    w.field("time", r.time)
                    w.field("state", r.state)
                    w.field("info", r.info)
                    w.field("transport", (s.socket?.transport ?? s.transport)?.rawValue)
                    kernelFields(s.socket, w)
                    w.field("match", s.match?.rawValue)
                    w.field("unresolved", s.unresolved)
                }
            }
            for (name, sockets) in [("unmatched_sockets", report.unmatchedSockets), ("listening_sockets", report.listeningSockets)] {
                w.key(name)
                w.array(sockets) { k in
                    w.object {
                        w.field("transport", k.transport.rawValue)
                        kernelFields(k, w)
                    }
                }
            }
            w.key("warnings")
            w.array(report.warnings) { w.string($0) }
        }
        return w.bytes
    }

    /// The kernel columns, shared by sessions and bare sockets so both spell them alike.
    static func kernelFields(_ k: SocketView?, _ w: JSONWriter) {
        w.field("fd", k?.fd.map(Int64.init))
        w.field("inode", k?.inode.map { Int64(bitPattern: $0) })
        w.field("local", k?.local)
        w.field("peer", k?.peer)
        w.field("tcp_state", k?.tcpState?.description)
        w.field("send_queue", k?.sendQueue.map(Int64.init))
        w.field("recv_queue", k?.recvQueue.map(Int64.init))
    }
}

/// A minimal streaming JSON writer (RFC 8259): objects, arrays, strings, integers, null.
/// Builds UTF-8 bytes directly: string appends cost more than the kernel reads at 1,000 sessions.
final class JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init() { bytes.reserveCapacity(1 << 16) }

    func object(_ body: () -> Void) {
        open(0x7B)  // {
        body()
        close(0x7D)
    }

    func array<T>(_ items: [T], _ each: (T) -> Void) {
        open(0x5B)  // [
        for item in items { each(item) }
        close(0x5D)
    }

    func key(_ k: String) {
        separate()
        appendString(k)
        bytes.append(0x3A)  // :
        needsComma = false
    }

    func field(_ k: String, _ value: String?) {
        key(k)
        if let value { string(value) } else { null() }
    }

    func field(_ k: String, _ value: Int64?) {
        key(k)
        separate()
        if let value { bytes += String(value).utf8 } else { bytes += "null".utf8 }
        needsComma = true
    }

    func string(_ s: String) {
        separate()
        appendString(s)
        needsComma = true
    }

    func null() {
        separate()
        bytes += "null".utf8
        needsComma = true
    }

    private func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        needsComma = false
    }

    private func close(_ bracket: UInt8) {
        bytes.append(bracket)
        needsComma = true
    }

    private func separate() {
        if needsComma { bytes.append(0x2C) }
    }

    private func appendString(_ s: String) {
        bytes.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: bytes += [0x5C, 0x22]      // \"
            case 0x5C: bytes += [0x5C, 0x5C]      // \\
            case 0x0A: bytes += [0x5C, 0x6E]      // \n
            case 0x0D: bytes += [0x5C, 0x72]      // \r
            case 0x09: bytes += [0x5C, 0x74]      // \t
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]  // \u00XX
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }
}
