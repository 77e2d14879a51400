/// A minimal streaming JSON writer (RFC 8259): objects, arrays, strings, integers, null.
/// Builds UTF-8 bytes directly: string appends cost more than the kernel reads at 1,000 sessions.
public final class JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init() { bytes.reserveCapacity(1 << 16) }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public func object(_ body: () -> Void) {
        open(0x7B)  // {
        body()
        close(0x7D)
    }

    public func array<T>(_ items: [T], _ each: (T) -> Void) {
        open(0x5B)  // [
        for item in items { each(item) }
        close(0x5D)
    }

    public func key(_ k: String) {
        separate()
        appendString(k)
        bytes.append(0x3A)  // :
        needsComma = false
    }

    public func field(_ k: String, _ value: String?) {
        key(k)
        if let value { string(value) } else { null() }
    }

    public func field(_ k: String, _ value: Int64?) {
        key(k)
        separate()
        if let value { bytes += String(value).utf8 } else { bytes += "null".utf8 }
        needsComma = true
    }

    public func field(_ k: String, _ value: Bool?) {
        key(k)
        separate()
        bytes += (value.map { $0 ? "true" : "false" } ?? "null").utf8
        needsComma = true
    }

    public func string(_ s: String) {
        separate()
        appendString(s)
        needsComma = true
    }

    public func null() {
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
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            bytes.append(contentsOf: s.utf8)  // the common case, in one access
            bytes.append(0x22)
            return
        }
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
