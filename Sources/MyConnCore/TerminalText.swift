/// Text from outside (INFO, USER, DB, HOST, a process's comm, a socket path) made safe for a
/// terminal: every control character (C0, DEL, C1) and every bidirectional-formatting
/// character (and the line and paragraph separators U+2028, U+2029) is shown as a visible escape (`\x1B`, `\u{202E}`), the way less(1) and ls's
/// `--quoting-style=escape` show them, so that no value can move the cursor, recolour, retitle,
/// clear or reorder what a person reads. A backslash is doubled only where escapes were made
/// (so a plain `C:\dir` stays as it is). JSON output has its own escaping and never uses this.
public enum TerminalText {
    /// `text` as it may be shown on a terminal; the same string when nothing needs escaping.
    public static func escape(_ text: String) -> String {
        guard needsEscaping(text) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) {
                out += scalar.value < 0x100 ? hex2(scalar.value) : "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else if scalar == "\\" {
                out += "\\\\"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A statement on one line: newlines and tabs become spaces (other control characters are
    /// ``escape(_:)``'s). Every front end's INFO column.
    public static func oneLine(_ s: String) -> String {
        String(s.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }

    /// Fast path: only bytes that can start an unsafe character are looked at closely
    /// (C0 and DEL are single bytes; C1 is `C2 80`–`C2 9F`; the bidi controls start with
    /// `D8` (U+061C) or `E2`).
    static func needsEscaping(_ text: String) -> Bool {
        var candidate = false
        for b in text.utf8 where b < 0x20 || b == 0x7F || b == 0xC2 || b == 0xD8 || b == 0xE2 {
            if b < 0x20 || b == 0x7F { return true }
            candidate = true
            break
        }
        return candidate && text.unicodeScalars.contains(where: isUnsafe)
    }

    static func isUnsafe(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    static func hex2(_ v: UInt32) -> String {
        let digits = Array("0123456789ABCDEF")
        return "\\x" + String(digits[Int(v >> 4)]) + String(digits[Int(v & 0xF)])
    }
}
