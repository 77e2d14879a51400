import Testing
@testable import MyConnCore

/// The grammar check behind `reap --test-matching`'s "line N: not valid JSON: ..." (JSONSyntax).
@Suite("JSON syntax: where a text first breaks RFC 8259")
struct JSONSyntaxTests {
    @Test("valid texts, as `list --json` and JSON's corners write them", arguments: [
        #"{"server":{"pid":null,"port":3306,"sql":true},"sessions":[],"warnings":["a\"b\\c\u00e9\n"]}"#,
        "[]", "{}", " [ 1 , -0.5e+3 , 0 , 2E-2 , true , false , null , \"\" ] ", "\"x\"", "-0", "[[[[{}]]]]",
    ])
    func valid(text: String) {
        #expect(JSONSyntax.firstError(in: Array(text.utf8)) == nil)
    }

    @Test("each break: the offset of the byte that breaks it and what was expected there", arguments: [
        ("{,}", 1, "expected a string key"),
        ("{\"a\" 1}", 5, "expected ':'"),
        ("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("[1,]", 3, "invalid value"),
        ("{\"pid\": tru}", 8, "invalid value"),
        ("[01]", 2, "expected ',' or ']'"),
        ("[1.]", 3, "invalid number"),
        ("[-]", 2, "invalid number"),
        ("[\"a\\x\"]", 3, "invalid escape"),
        ("[\"a\u{01}\"]", 3, "control character in a string"),
        ("[\"abc", 5, "unterminated string"),
        ("{\"a\":1}}", 7, "unexpected text after the document"),
        ("", 0, "invalid value"),
        ("{\"a\":", 5, "invalid value"),
    ])
    func broken(text: String, offset: Int, what: String) throws {
        let e = try #require(JSONSyntax.firstError(in: Array(text.utf8)))
        #expect(e.offset == offset && e.what == what, "\(e)")
    }

    @Test("the recorded `list --json` documents of reap's fixtures pass, each of a file of several where the one before ends",
          arguments: [("list-array.json", 1), ("list-no-sql.json", 1), ("list-pretty.json", 2), ("list.jsonl", 2)])
    func recordedDocuments(name: String, documents: Int) throws {
        var rest = try ReapFixture.bytes(name)
        var seen = 1
        while let e = JSONSyntax.firstError(in: rest) {
            // A file of several documents: the text after the first is the next one's.
            try #require(e.what == "unexpected text after the document", "\(name), document \(seen): \(e)")
            rest = Array(rest[e.offset...])
            seen += 1
        }
        #expect(seen == documents, "\(name)")
    }

    @Test("200,000 nested arrays: an answer, not a stack overflow")
    func deep() throws {
        let open = [UInt8](repeating: UInt8(ascii: "["), count: 200_000)
        #expect(JSONSyntax.firstError(in: open + [UInt8](repeating: UInt8(ascii: "]"), count: 200_000)) == nil)
        let e = try #require(JSONSyntax.firstError(in: open))
        #expect(e.offset == 200_000 && e.what == "invalid value", "a value or ']' was due at the end")
    }
}
