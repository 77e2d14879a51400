/// Where a JSON text (RFC 8259) first breaks its grammar, for a one-line error message.
///
/// FoundationEssentials' JSONDecoder says only "not valid JSON". The JSONSerialization that
/// says where is in full Foundation, which, linked for that message alone, made every run of
/// myconn slower to start (1.3 ms of `myconn --version`'s 8.4, hyperfine) and its binary 49 MB
/// larger. This checks the grammar and nothing else: JSONDecoder still reads the values.
public enum JSONSyntax {
    enum Frame { case object, array }

    /// The offset of the first byte that breaks the grammar, and what was expected there; nil
    /// for a valid text. Nesting is kept on a heap stack, not the call stack.
    public static func firstError(in b: some Collection<UInt8>) -> (offset: Int, what: String)? {
        let b = Array(b)
        var stack: [Frame] = []
        var i = 0
        func space() { while i < b.count, JSONRecording.isSpace(b[i]) { i += 1 } }
        func isDigit(_ j: Int) -> Bool { j < b.count && b[j] >= 0x30 && b[j] <= 0x39 }
        /// One or more digits at `i`, `i` left after them.
        func digits() -> Bool {
            guard isDigit(i) else { return false }
            while isDigit(i) { i += 1 }
            return true
        }
        /// A string at `i` (its opening quote), `i` left after the closing one.
        func string() -> String? {
            i += 1
            while i < b.count {
                switch b[i] {
                case 0x22: i += 1; return nil
                case 0x5C:
                    guard i + 1 < b.count else { return "unterminated string" }
                    if b[i + 1] == 0x75 {  // \uXXXX
                        guard i + 6 <= b.count, b[(i + 2)..<(i + 6)].allSatisfy({ $0 < 0x80 && Character(UnicodeScalar($0)).isHexDigit }) else {
                            return "invalid escape"
                        }
                        i += 6
                    } else {
                        guard "\"\\/bfnrt".utf8.contains(b[i + 1]) else { return "invalid escape" }
                        i += 2
                    }
                case 0..<0x20: return "control character in a string"
                default: i += 1
                }
            }
            return "unterminated string"
        }
        /// A scalar or the opening of a container at `i`.
        func value() -> String? {
            guard i < b.count else { return "invalid value" }
            switch b[i] {
            case 0x7B: stack.append(.object); i += 1; return nil
            case 0x5B: stack.append(.array); i += 1; return nil
            case 0x22: return string()
            case 0x74, 0x66, 0x6E:  // true, false, null
                for word in ["true", "false", "null"] where b[i...].starts(with: word.utf8) {
                    i += word.utf8.count
                    return nil
                }
                return "invalid value"
            case 0x2D, 0x30...0x39:
                if b[i] == 0x2D { i += 1 }
                guard isDigit(i) else { return "invalid number" }
                if b[i] == 0x30 { i += 1 } else { _ = digits() }
                if i < b.count, b[i] == 0x2E {
                    i += 1
                    guard digits() else { return "invalid number" }
                }
                if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
                    i += 1
                    if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
                    guard digits() else { return "invalid number" }
                }
                return nil
            default: return "invalid value"
            }
        }
        /// An object's member key and colon at `i`, then its value.
        func member() -> String? {
            space()
            guard i < b.count, b[i] == 0x22 else { return "expected a string key" }
            if let e = string() { return e }
            space()
            guard i < b.count, b[i] == 0x3A else { return "expected ':'" }
            i += 1
            space()
            return value()
        }

        space()
        if let e = value() { return (i, e) }
        // After a value, or just inside a container (`opened`: its first member or its end comes
        // next), until every container is closed.
        var opened = !stack.isEmpty
        while let top = stack.last {
            space()
            if i < b.count, b[i] == (top == .object ? 0x7D : 0x5D) {
                stack.removeLast()
                i += 1
                opened = false
                continue
            }
            if !opened {
                guard i < b.count, b[i] == 0x2C else { return (i, top == .object ? "expected ',' or '}'" : "expected ',' or ']'") }
                i += 1
            }
            let depth = stack.count
            let e: String?
            if top == .object {
                e = member()
            } else {
                space()
                e = value()
            }
            if let e { return (i, e) }
            opened = stack.count > depth
        }
        space()
        return i < b.count ? (i, "unexpected text after the document") : nil
    }
}
