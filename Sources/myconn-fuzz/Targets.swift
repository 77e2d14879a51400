import Foundation
import MyConnCore
import ProcFS
import SockDiag

/// The parsers that read bytes from outside (the kernel's /proc text and sock_diag replies, the
/// server's HOST values, a person's addresses) and the writers whose output must hold whatever
/// they are given (JSON, the terminal escaper). Each target takes one input; a broken
/// invariant stops the process (`fatalError`), which libFuzzer reports as a crash with the
/// input that caused it.
enum FuzzTargets {
    typealias Target = @Sendable ([UInt8]) -> Void

    static let all: [String: Target] = [
        "proc-net-tcp": procNetTCP,
        "proc-net-unix": { bytes in _ = try? NetUnixParser.parse(String(decoding: bytes, as: UTF8.self)) },
        "proc-fd-link": { bytes in _ = FDTarget(link: String(decoding: bytes, as: UTF8.self)) },
        "proc-syscall": { bytes in _ = ThreadSyscall(text: Substring(String(decoding: bytes, as: UTF8.self))) },
        "proc-status": { bytes in _ = ProcStatus(text: String(decoding: bytes, as: UTF8.self)) },
        "proc-stat": { bytes in _ = ProcStat.startTimeTicks(String(decoding: bytes, as: UTF8.self)) },
        "inet-diag": { bytes in _ = try? InetDiag.parse(bytes); _ = try? InetDiag.parseSockets(bytes) },
        "unix-diag": { bytes in _ = try? UnixDiag.parse(bytes) },
        "processlist-host": processlistHost,
        "endpoint": endpoint,
        "json-string": jsonString,
        "terminal-escape": terminalEscape,
        "reap-recording": { bytes in _ = try? ReapRecording.read(bytes) },
        "json-syntax": jsonSyntax,
    ]

    /// The first byte picks the family, the rest is the file.
    static func procNetTCP(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let family: TCPFamily = first & 1 == 0 ? .tcp4 : .tcp6
        _ = try? NetTCPParser.parse(bytes: Array(bytes.dropFirst()), family: family)
    }

    /// The join's fast byte path must agree with the plain reading: split at the last colon,
    /// the port as a number, the address through inet_pton.
    static func processlistHost(_ bytes: [UInt8]) {
        let host = String(decoding: bytes, as: UTF8.self)
        let parsed = SessionEndpoint(host: host)
        guard case .tcp(let address) = parsed else { return }
        guard let colon = host.lastIndex(of: ":"), let port = UInt16(host[host.index(after: colon)...]),
              let ip = IPAddress(text: String(host[..<colon])) else {
            fatalError("HOST \(host.debugDescription) read as \(address), but it is not ADDR:PORT")
        }
        if SocketAddress(ip: ip, port: port) != address {
            fatalError("HOST \(host.debugDescription): fast path \(address), plain reading \(ip) port \(port)")
        }
    }

    /// An endpoint a person typed reads back the same from its own description.
    static func endpoint(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let address = SocketAddress(endpoint: text) else { return }
        guard let again = SocketAddress(endpoint: address.description), again == address else {
            fatalError("\(text.debugDescription) read as \(address), whose text \(address.description) does not read back")
        }
    }

    /// Any string through the JSON writer is valid JSON that decodes to the same string.
    static func jsonString(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let writer = JSONWriter()
        writer.array([text]) { writer.string($0) }
        let out = writer.bytes
        guard let decoded = try? JSONSerialization.jsonObject(with: Data(out)) as? [String] else {
            fatalError("the writer made invalid JSON of \(text.debugDescription): \(String(decoding: out, as: UTF8.self).debugDescription)")
        }
        if decoded != [text] {
            fatalError("\(text.debugDescription) came back as \(decoded[0].debugDescription)")
        }
    }

    /// What the terminal escaper lets through holds no control character (C0, DEL, C1) and no
    /// bidirectional override: a client's text cannot drive the DBA's terminal.
    static func terminalEscape(_ bytes: [UInt8]) {
        let escaped = TerminalText.escape(String(decoding: bytes, as: UTF8.self))
        for scalar in escaped.unicodeScalars {
            let v = scalar.value
            if v < 0x20 || (0x7f...0x9f).contains(v) || v == 0x061c || v == 0x200e || v == 0x200f
                || (0x2028...0x202e).contains(v) || (0x2066...0x2069).contains(v) {
                fatalError("the escaper let U+\(String(v, radix: 16)) through")
            }
        }
    }

    /// The grammar check behind reap's recording errors: an offset it gives lies within the
    /// text, and a UTF-8 text it passes as valid JSONSerialization reads too. (Not the other way:
    /// JSONSerialization also takes texts RFC 8259 does not, such as `{"a":1,}`, found here;
    /// and it refuses numbers it cannot hold, such as `4e+33333333333`, also found here, lone
    /// surrogate escapes and nesting deeper than 512, which JSONSyntax takes.)
    static func jsonSyntax(_ bytes: [UInt8]) {
        let found = JSONSyntax.firstError(in: bytes)
        if let found, found.offset < 0 || found.offset > bytes.count {
            fatalError("offset \(found.offset) outside a text of \(bytes.count) bytes")
        }
        guard found == nil, let text = String(validating: bytes, as: UTF8.self) else { return }
        // What JSONSerialization refuses beyond the grammar: a number beyond Double's range, a
        // lone surrogate escape, nesting deeper than its 512.
        if text.contains(/[eE][+-]?[0-9]{3,}|[0-9]{300,}|\\u[dD][89a-fA-F]/) { return }
        if bytes.count(where: { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "{") }) >= 512 { return }
        if (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil {
            fatalError("JSONSyntax passes \(String(decoding: bytes, as: UTF8.self).debugDescription), JSONSerialization does not")
        }
    }
}
