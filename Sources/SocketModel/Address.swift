#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An IP address as the kernel stores it: 4 or 16 bytes in network order.
///
/// Equality is on the bytes as given; use ``normalized`` to compare an IPv4 client seen
/// through an IPv6 socket (`::ffff:a.b.c.d`) with the same client printed as `a.b.c.d`.
public enum IPAddress: Hashable, Sendable {
    case v4(UInt8, UInt8, UInt8, UInt8)
    case v6(IPv6Bytes)

    /// Dotted-quad IPv4 straight from bytes, as strict as glibc's `inet_pton(AF_INET)` (four
    /// decimal parts of 0-255, no leading zeros): the join parses one per TCP session.
    @inlinable
    public static func parseV4<C: Collection>(_ bytes: C) -> IPAddress? where C.Element == UInt8 {
        var parts: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        var n = 0, value = 0, digits = 0
        func store() -> Bool {
            guard digits > 0, value <= 255, n < 4 else { return false }
            switch n {
            case 0: parts.0 = UInt8(value)
            case 1: parts.1 = UInt8(value)
            case 2: parts.2 = UInt8(value)
            default: parts.3 = UInt8(value)
            }
            n += 1
            value = 0
            digits = 0
            return true
        }
        for b in bytes {
            if b == 0x2E {
                guard store() else { return nil }
            } else if b >= 0x30 && b <= 0x39 {
                if digits > 0 && value == 0 { return nil }  // leading zero
                value = value * 10 + Int(b - 0x30)
                digits += 1
                if digits > 3 { return nil }
            } else {
                return nil
            }
        }
        guard store(), n == 4 else { return nil }
        return .v4(parts.0, parts.1, parts.2, parts.3)
    }

    /// Parses a textual address (`10.1.2.3`, `::1`, `::ffff:10.1.2.3`) with `inet_pton(3)`.
    /// Returns nil for anything else, host names included. Brackets are not accepted.
    public init?(text: String) {
        if text.utf8.contains(0x3A) {  // ':'
            var raw = in6_addr()
            guard inet_pton(AF_INET6, text, &raw) == 1 else { return nil }
            self = .v6(withUnsafeBytes(of: &raw) { IPv6Bytes($0) })
        } else {
            var raw = in_addr()
            guard inet_pton(AF_INET, text, &raw) == 1 else { return nil }
            let a = UInt32(bigEndian: raw.s_addr)
            self = .v4(UInt8(a >> 24), UInt8(truncatingIfNeeded: a >> 16), UInt8(truncatingIfNeeded: a >> 8),
                       UInt8(truncatingIfNeeded: a))
        }
    }

    /// The address with an IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) turned into plain IPv4.
    public var normalized: IPAddress {
        if case .v6(let b) = self, b.high == 0, b.low >> 32 == 0xffff {
            return .v4(b[12], b[13], b[14], b[15])
        }
        return self
    }

    public var isV6: Bool { if case .v6 = self { return true } else { return false } }

    // One word per IPv4 address (the join hashes thousands of peers per run); equal values
    // feed equal bytes, as Hashable requires.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .v4(let a, let b, let c, let d):
            hasher.combine(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
        case .v6(let bytes):
            hasher.combine(bytes)
        }
    }

    /// The address as `inet_ntop(3)` prints it (no brackets).
    public var description: String {
        switch self {
        case .v4(let a, let b, let c, let d):
            return "\(a).\(b).\(c).\(d)"
        case .v6(let bytes):
            return String(unsafeUninitializedCapacity: Int(INET6_ADDRSTRLEN)) { bytes.writeText(to: $0.baseAddress!) }
        }
    }
}

/// The 16 bytes of an IPv6 address, in network order, as two words: hashed, compared and
/// copied without a heap allocation (the join handles one per IPv6 session).
public struct IPv6Bytes: Hashable, Sendable {
    /// Bytes 0-7 and 8-15, each read big-endian.
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// - Precondition: exactly 16 bytes. Inlinable, so that each caller gets it specialized
    /// for its collection (unspecialized, the generic walk cost more than the join saved).
    @inlinable
    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        var high: UInt64 = 0, low: UInt64 = 0
        var i = 0
        for b in bytes {
            if i < 8 { high = high << 8 | UInt64(b) } else { low = low << 8 | UInt64(b) }
            i += 1
        }
        self.init(high: high, low: low)
    }

    /// Writes the address as `inet_ntop(3)` prints it at `out` (room for INET6_ADDRSTRLEN, 46)
    /// and returns the byte count, the terminating NUL not counted.
    public func writeText(to out: UnsafeMutablePointer<UInt8>) -> Int {
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { dst in
            dst.storeBytes(of: high.bigEndian, as: UInt64.self)
            dst.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return out.withMemoryRebound(to: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { text in
            guard inet_ntop(AF_INET6, &raw, text, socklen_t(INET6_ADDRSTRLEN)) != nil else {
                preconditionFailure("inet_ntop cannot fail on a 16-byte address and a large enough buffer")
            }
            return strlen(text)
        }
    }

    /// Byte `i` (0-15) in network order.
    @inlinable
    public subscript(i: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: (i < 8 ? high : low) >> (8 * (7 - i % 8)))
    }
}

/// An address and port, printed `a.b.c.d:port` or `[v6]:port`.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16

    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    /// The same endpoint with ``IPAddress/normalized`` applied.
    public var normalized: SocketAddress { SocketAddress(ip: ip.normalized, port: port) }

    /// An endpoint as a person types it (`--peer`, `--client`): `ADDR:PORT`, IPv6 as
    /// `[addr]:port` (or bare, split at the last colon); nil for anything else, names included.
    public init?(endpoint text: String) {
        var t = Substring(text)
        var host: Substring
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]") else { return nil }
            host = t[t.index(after: t.startIndex)..<close]
            t = t[t.index(after: close)...]
            guard t.hasPrefix(":") else { return nil }
            t = t.dropFirst()
        } else {
            guard let colon = t.lastIndex(of: ":") else { return nil }
            host = t[..<colon]
            t = t[t.index(after: colon)...]
        }
        guard let port = UInt16(t), let ip = IPAddress(text: String(host)) else { return nil }
        self.init(ip: ip, port: port)
    }

    public func hash(into hasher: inout Hasher) {
        switch ip {
        case .v4(let a, let b, let c, let d):
            hasher.combine(UInt64(a) << 40 | UInt64(b) << 32 | UInt64(c) << 24 | UInt64(d) << 16 | UInt64(port))
        case .v6(let bytes):
            // Two words (the port folded into the low half's top bits, which vary least): equal
            // values feed equal words; the join hashes one per IPv6 session.
            hasher.combine(bytes.high)
            hasher.combine(bytes.low ^ UInt64(port) << 48)
        }
    }

    /// The most bytes ``write(to:)`` writes: `[` + an IPv6 address (45) + `]:` + a port (5).
    public static let maximumTextLength = 53

    public var description: String {
        String(unsafeUninitializedCapacity: Self.maximumTextLength) { write(to: $0.baseAddress!) }
    }

    /// Writes ``description``'s bytes at `out` (room for ``maximumTextLength``) and returns their
    /// count: list writes two per session, thousands per run, without a String between.
    /// `ipv6Text` writes an IPv6 address's text (``IPv6Bytes/writeText(to:)``, or a cache of it).
    public func write(to out: UnsafeMutablePointer<UInt8>,
                      ipv6Text: (IPv6Bytes, UnsafeMutablePointer<UInt8>) -> Int = { $0.writeText(to: $1) }) -> Int {
        var n = 0
        func put(_ v: UInt32) {
            var digits = 1
            var t = v
            while t >= 10 { t /= 10; digits += 1 }
            var m = v
            var i = n + digits
            n = i
            repeat {
                i -= 1
                out[i] = 0x30 &+ UInt8(truncatingIfNeeded: m % 10)
                m /= 10
            } while m != 0
        }
        switch ip {
        case .v4(let a, let b, let c, let d):
            func octet(_ v: UInt8, dot: Bool) {
                put(UInt32(v))
                if dot { out[n] = 0x2E; n += 1 }
            }
            octet(a, dot: true)
            octet(b, dot: true)
            octet(c, dot: true)
            octet(d, dot: false)
        case .v6(let bytes):
            out[n] = 0x5B  // [
            n += 1
            n += ipv6Text(bytes, out + n)
            out[n] = 0x5D  // ]
            n += 1
        }
        out[n] = 0x3A  // :
        n += 1
        put(UInt32(port))
        return n
    }
}
