import Testing
@testable import MyConnCore

/// Strings anyone with a login (INFO, USER, DB, HOST) or any local user (a process's comm) can
/// set, as they would reach a DBA's terminal.
@Suite("terminal escaper: control and bidi characters shown, never sent")
struct TerminalTextTests {
    @Test("SGR colour, OSC window title, clear screen, NUL, DEL, C1 CSI, RLO become visible escapes", arguments: [
        ("\u{1B}[31mred\u{1B}[0m", "\\x1B[31mred\\x1B[0m"),
        ("\u{1B}]0;owned\u{07}", "\\x1B]0;owned\\x07"),
        ("\u{1B}[2J\u{1B}[H", "\\x1B[2J\\x1B[H"),
        ("a\u{0}b", "a\\x00b"),
        ("del\u{7F}", "del\\x7F"),
        ("c1\u{9B}2J", "c1\\x9B2J"),
        ("user\u{202E}gnp.exe", "user\\u{202E}gnp.exe"),
        ("\u{2066}x\u{2069}\u{200F}\u{061C}", "\\u{2066}x\\u{2069}\\u{200F}\\u{61C}"),
        ("line\nbreak\ttab\r", "line\\x0Abreak\\x09tab\\x0D"),
        ("C:\\dir\u{1B}", "C:\\\\dir\\x1B"),
    ])
    func escapes(raw: String, shown: String) {
        let out = TerminalText.escape(raw)
        #expect(out == shown)
        #expect(!out.unicodeScalars.contains(where: TerminalText.isUnsafe), "nothing unsafe is left")
    }

    @Test("plain text, UTF-8 letters and a lone backslash are left exactly as they are")
    func untouched() {
        for s in ["SELECT * FROM t WHERE a = 'é'", "日本語のクエリ", "C:\\dir", "app@10.0.0.1:5000", "€ – “quotes”", ""] {
            #expect(TerminalText.escape(s) == s)
        }
    }
}
