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
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { dst in
                for i in 0..<16 { dst[i] = bytes[i] }
            }
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &raw, &buf, socklen_t(buf.count)) != nil else {
                preconditionFailure("inet_ntop cannot fail on a 16-byte address and a large enough buffer")
            }
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
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

    public func hash(into hasher: inout Hasher) {
        if case .v4(let a, let b, let c, let d) = ip {
            hasher.combine(UInt64(a) << 40 | UInt64(b) << 32 | UInt64(c) << 24 | UInt64(d) << 16 | UInt64(port))
        } else {
            hasher.combine(ip)
            hasher.combine(port)
        }
    }

    public var description: String {
        guard case .v4(let a, let b, let c, let d) = ip else { return "[\(ip.description)]:\(port)" }
        // a.b.c.d:port written byte by byte: list formats two per session (thousands per run).
        return String(unsafeUninitializedCapacity: 21) { buf in
            var n = 0
            func put(_ v: UInt32) {
                if v >= 10 { put(v / 10) }
                buf[n] = 0x30 + UInt8(v % 10)
                n += 1
            }
            for (i, octet) in [a, b, c, d].enumerated() {
                if i > 0 { buf[n] = 0x2E; n += 1 }
                put(UInt32(octet))
            }
            buf[n] = 0x3A
            n += 1
            put(UInt32(port))
            return n
        }
    }
}
