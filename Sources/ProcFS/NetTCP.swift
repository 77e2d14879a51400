import SocketModel

extension TCPFamily {
    /// The file under `/proc/<pid>/net/` that lists this family: `tcp` or `tcp6`.
    public var procFileName: String { self == .tcp4 ? "tcp" : "tcp6" }
}

/// Parses the text of `/proc/<pid>/net/tcp{,6}` (`proc(5)`); pure, no file system.
///
/// Works on bytes: the file has a row per socket of the namespace (clients included), and at
/// thousands of rows the parse must cost far less than the kernel's generation of the text.
public enum NetTCPParser {
    /// All rows of the file; the header line is skipped.
    /// - Throws: ``ProcParseError/malformed(file:line:)`` naming the first bad line.
    public static func parse(_ text: String, family: TCPFamily,
                             byteOrder: WordByteOrder = .host) throws(ProcParseError) -> [TCPSocketEntry] {
        try parse(bytes: Array(text.utf8), family: family, byteOrder: byteOrder)
    }

    public static func parse(bytes: [UInt8], family: TCPFamily,
                             byteOrder: WordByteOrder = .host) throws(ProcParseError) -> [TCPSocketEntry] {
        var out: [TCPSocketEntry] = []
        out.reserveCapacity(bytes.count / 150)
        var start = 0
        var first = true
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            let line = bytes[start..<end]
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 }) { continue }
            if first {
                first = false
                if line.contains(0x5F) { continue }  // "local_address": the header
            }
            guard let entry = parseLine(line, family: family, byteOrder: byteOrder) else {
                throw .malformed(file: family.procFileName, line: String(decoding: line, as: UTF8.self))
            }
            out.append(entry)
        }
        return out
    }

    /// One data row, e.g. `   8: 55F9B40A:0016 59CDB40A:2738 01 00000000:00000000 ... 5983909 ...`.
    public static func parseLine(_ line: Substring, family: TCPFamily,
                                 byteOrder: WordByteOrder = .host) -> TCPSocketEntry? {
        parseLine(ArraySlice(line.utf8), family: family, byteOrder: byteOrder)
    }

    static func parseLine(_ line: ArraySlice<UInt8>, family: TCPFamily, byteOrder: WordByteOrder) -> TCPSocketEntry? {
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
        var fields: [Range<Int>] = []
        fields.reserveCapacity(10)
        var i = line.startIndex
        while fields.count < 10 && i < line.endIndex {
            while i < line.endIndex && line[i] == 0x20 { i += 1 }
            let s = i
            while i < line.endIndex && line[i] != 0x20 { i += 1 }
            if s < i { fields.append(s..<i) }
        }
        guard fields.count == 10,
              let local = address(line[fields[1]], byteOrder: byteOrder),
              let peer = address(line[fields[2]], byteOrder: byteOrder),
              let st = hex(line[fields[3]]), let state = TCPState(rawValue: UInt8(truncatingIfNeeded: st)), st < 256,
              let colon = line[fields[4]].firstIndex(of: 0x3A),
              let tx = hex(line[fields[4].lowerBound..<colon]),
              let rx = hex(line[(colon + 1)..<fields[4].upperBound]),
              let uid = decimal(line[fields[7]]), uid <= UInt64(UInt32.max),
              let inode = decimal(line[fields[9]])
        else { return nil }
        let expectV6 = family == .tcp6
        guard local.ip.isV6 == expectV6, peer.ip.isV6 == expectV6, tx <= UInt32.max, rx <= UInt32.max else { return nil }
        return TCPSocketEntry(family: family, local: local, peer: peer, state: state,
                              sendQueue: UInt32(tx), recvQueue: UInt32(rx), uid: UInt32(uid), inode: inode)
    }

    static func address(_ field: ArraySlice<UInt8>, byteOrder: WordByteOrder) -> SocketAddress? {
        guard let colon = field.lastIndex(of: 0x3A) else { return nil }
        let addr = field[field.startIndex..<colon]
        let portHex = field[(colon + 1)...]
        guard portHex.count == 4, let port = hex(portHex), addr.count == 8 || addr.count == 32 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(addr.count / 2)
        var w = addr.startIndex
        while w < addr.endIndex {
            guard let word = hex(addr[w..<(w + 8)]) else { return nil }
            let be = [UInt8(word >> 24), UInt8((word >> 16) & 0xff), UInt8((word >> 8) & 0xff), UInt8(word & 0xff)]
            bytes.append(contentsOf: byteOrder == .little ? be.reversed() : be)
            w += 8
        }
        let ip: IPAddress = bytes.count == 4 ? .v4(bytes[0], bytes[1], bytes[2], bytes[3]) : .v6(IPv6Bytes(bytes))
        return SocketAddress(ip: ip, port: UInt16(port))
    }

    static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var v: UInt64 = 0
        for c in digits {
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 19 else { return nil }
        var v: UInt64 = 0
        for c in digits {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + UInt64(c - 0x30)
        }
        return v
    }
}

/// A line or value in a /proc file that does not have the documented form.
public enum ProcParseError: Error, Hashable, Sendable {
    case malformed(file: String, line: String)
}
