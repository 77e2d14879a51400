/// A minimal streaming JSON writer (RFC 8259): objects, arrays, strings, integers, null.
///
/// Built for `list --json` at 10,000 sessions (about 20 fields each): keys are compile-time
/// ASCII constants, written without an escape scan; every field is written with one access to
/// the byte buffer, integers without building a String, strings with one scan for bytes that
/// need escaping. (Written the straightforward way it took 30 ms of 150 at 5,000 sessions.)
public final class JSONWriter {
    // A plain growable buffer: Array's per-append uniqueness and capacity checks, and the
    // runtime's exclusivity bookkeeping on a class property, cost more than the bytes.
    private var storage: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    private var needsComma = false
    /// IPv6 addresses already written, with their text (bounded: cleared at 4,096).
    private var ipv6Texts: [IPv6Bytes: [UInt8]] = [:]

    /// Where a full buffer goes; nil: the whole document stays in memory.
    private let sink: ((UnsafeRawBufferPointer) -> Void)?

    /// - Parameters:
    ///   - capacity: the buffer's size in bytes; without a sink, the expected size of the
    ///     document (growing a 2 MB buffer by doubling costs more page faults than writing it).
    ///   - sink: takes the bytes each time the buffer is full (and at ``flush()``), so the
    ///     document never sits in memory whole: each new page touched is a fault, and at 5,000
    ///     sessions the 2 MB of a whole document cost about 500 of them (1.5 ms on this
    ///     project's VMs).
    public init(capacity: Int = 1 << 16, sink: ((UnsafeRawBufferPointer) -> Void)? = nil) {
        self.capacity = max(capacity, 64)
        self.sink = sink
        storage = .allocate(capacity: self.capacity)
    }

    /// Hands the buffered bytes to the sink (nothing without one).
    public func flush() {
        guard let sink, count > 0 else { return }
        sink(UnsafeRawBufferPointer(start: storage, count: count))
        count = 0
    }

    deinit { storage.deallocate() }

    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    /// Ends the document with a newline (outside the JSON grammar: for output a line at a time).
    public func newline() { put(0x0A) }

    public var text: String { String(decoding: UnsafeBufferPointer(start: storage, count: count), as: UTF8.self) }

    public func object(_ body: () -> Void) {
        open(0x7B)  // {
        body()
        close(0x7D)
    }

    /// Inlinable, so that each caller's element type is specialized (a generic walk copied
    /// every session value through witness tables).
    @inlinable
    public func array<T>(_ items: [T], _ each: (T) -> Void) {
        open(0x5B)  // [
        for item in items { each(item) }
        close(0x5D)
    }

    public func key(_ k: StaticString) {
        writeKey(k)
        needsComma = false
    }

    @inline(__always) public func field(_ k: StaticString, _ value: String?) {
        writeKey(k)
        if let value { writeString(value) } else { writeLiteral("null") }
        needsComma = true
    }

    @inline(__always) public func field(_ k: StaticString, _ value: Int64?) {
        writeKey(k)
        if let value { writeInteger(value) } else { writeLiteral("null") }
        needsComma = true
    }

    public func field(_ k: StaticString, _ value: Bool?) {
        writeKey(k)
        writeLiteral(value.map { $0 ? "true" : "false" } ?? "null")
        needsComma = true
    }

    public func string(_ s: String) {
        if needsComma { put(0x2C) }
        writeString(s)
        needsComma = true
    }

    /// A value another writer made (`reap`'s outcome object), written as it is.
    public func raw(_ json: String) {
        if needsComma { put(0x2C) }
        for b in json.utf8 { put(b) }
        needsComma = true
    }

    public func null() {
        if needsComma { put(0x2C) }
        writeLiteral("null")
        needsComma = true
    }

    @usableFromInline
    func open(_ bracket: UInt8) {
        if needsComma { put(0x2C) }
        put(bracket)
        needsComma = false
    }

    @usableFromInline
    func close(_ bracket: UInt8) {
        put(bracket)
        needsComma = true
    }

    // MARK: - The buffer

    @inline(__always) private func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        var needed = needed
        if sink != nil && count > 0 {
            needed -= count
            flush()
            if needed <= capacity { return }
        }
        var c = capacity * 2
        while c < needed { c *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        bigger.update(from: storage, count: count)
        storage.deallocate()
        storage = bigger
        capacity = c
    }

    @inline(__always) private func put(_ b: UInt8) {
        reserve(1)
        storage[count] = b
        count += 1
    }

    @inline(__always) private func put(_ src: UnsafeRawBufferPointer) {
        guard let base = src.baseAddress, !src.isEmpty else { return }
        reserve(src.count)
        (storage + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: src.count)
        count += src.count
    }

    @inline(__always) private func writeKey(_ k: StaticString) {
        let n = k.utf8CodeUnitCount
        reserve(n + 4)
        var at = count
        if needsComma { storage[at] = 0x2C; at += 1 }
        storage[at] = 0x22
        (storage + at + 1).update(from: k.utf8Start, count: n)
        at += 1 + n
        storage[at] = 0x22
        storage[at + 1] = 0x3A
        count = at + 2
    }

    @inline(__always) private func writeLiteral(_ k: StaticString) {
        put(UnsafeRawBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
    }

    @inline(__always) private func writeInteger(_ value: Int64) {
        reserve(20)
        if value < 0 { storage[count] = 0x2D; count += 1 }
        count += Self.writeDecimal(value.magnitude, to: storage + count)
    }

    /// `v` in decimal at `out` (room for 20 bytes); returns the byte count.
    @inline(__always) static func writeDecimal(_ v: UInt64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        if v < 10 {
            out[0] = 0x30 &+ UInt8(truncatingIfNeeded: v)
            return 1
        }
        var digits = 2
        var t = v / 100
        while t != 0 { t /= 10; digits += 1 }
        var m = v
        var i = digits
        repeat {
            i -= 1
            out[i] = 0x30 &+ UInt8(truncatingIfNeeded: m % 10)
            m /= 10
        } while m != 0
        return digits
    }

    private func writeString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            // Room for the quotes and the bytes unescaped; escapes reserve more as they come.
            reserve(utf8.count + 2)
            storage[count] = 0x22
            count += 1
            // Copied byte by byte while checked (values are a few bytes: cheaper than a scan
            // and then a call to memcpy); from the first byte that needs an escape, piece by piece.
            var i = 0
            let n = utf8.count
            let out = storage + count
            while i < n {
                let b = utf8[i]
                if b < 0x20 || b == 0x22 || b == 0x5C { break }
                out[i] = b
                i += 1
            }
            count += i
            var start = i
            while i < n {
                let b = utf8[i]
                if b < 0x20 || b == 0x22 || b == 0x5C {
                    put(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start..<i]))
                    start = i + 1
                    writeEscape(b)
                }
                i += 1
            }
            put(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start...]))
            put(0x22)
        }
    }

    private func writeEscape(_ b: UInt8) {
        put(0x5C)
        switch b {
        case 0x22: put(0x22)      // \"
        case 0x5C: put(0x5C)      // \\
        case 0x0A: put(0x6E)      // \n
        case 0x0D: put(0x72)      // \r
        case 0x09: put(0x74)      // \t
        default:                  // \u00XX
            let hex: StaticString = "0123456789abcdef"
            put(0x75)
            put(0x30)
            put(0x30)
            put(hex.utf8Start[Int(b >> 4)])
            put(hex.utf8Start[Int(b & 0xF)])
        }
    }

    /// An address as ``SocketAddress/description`` spells it, written in place (no String: list
    /// writes one per session).
    public func field(_ k: StaticString, _ value: SocketAddress?) {
        writeKey(k)
        if let value {
            reserve(SocketAddress.maximumTextLength + 2)
            storage[count] = 0x22
            count += 1
            // inet_ntop(3) cost more than the rest of a session's line: each address's text is
            // made once (a server's peers come from few hosts; its own end is one of a few
            // listening addresses).
            count += value.write(to: storage + count) { bytes, out in
                let text = ipv6Texts[bytes] ?? ipv6Text(bytes)
                text.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
                return text.count
            }
            storage[count] = 0x22
            count += 1
        } else {
            writeLiteral("null")
        }
        needsComma = true
    }

    private func ipv6Text(_ bytes: IPv6Bytes) -> [UInt8] {
        let text = [UInt8](unsafeUninitializedCapacity: 46) { $1 = bytes.writeText(to: $0.baseAddress!) }
        if ipv6Texts.count >= 4096 { ipv6Texts.removeAll(keepingCapacity: true) }
        ipv6Texts[bytes] = text
        return text
    }
}
