import Foundation
import Testing
@testable import MyConnCore

@Suite("JSON writer: what list --json and the audit log are made of")
struct JSONWriterTests {
    @Test("strings with quotes, backslashes, control characters and multi-byte UTF-8 come back intact through a JSON parser")
    func strings() throws {
        let values = ["plain", "SELECT 'x', \"y\" FROM t WHERE a = '\\\\'", "line\nbreak\r\ttab", "\u{01}\u{1F}",
                      "naïve ☃ 𝄞", "", "ends with backslash \\"]
        let w = JSONWriter(capacity: 8)  // tiny: the buffer must grow
        w.object {
            w.key("v")
            w.array(values) { w.string($0) }
            w.field("n", nil as String?)
        }
        let parsed = try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any]
        #expect(parsed?["v"] as? [String] == values)
        #expect(parsed?["n"] is NSNull)
        #expect(w.text.contains("\\u0001") && w.text.contains("\\n") && w.text.contains("\\\""))
    }

    @Test("integers at the edges, booleans and nulls, objects in arrays, commas in the right places")
    func scalars() throws {
        let ints: [Int64] = [0, 7, -1, 10, 999_999, Int64.max, Int64.min]
        let w = JSONWriter()
        w.object {
            w.key("ints")
            w.array(ints) { i in w.object { w.field("i", i) } }
            w.field("t", true)
            w.field("f", false)
            w.field("none", nil as Bool?)
            w.field("nothing", nil as Int64?)
            w.key("empty")
            w.array([Int]()) { _ in }
        }
        w.newline()
        #expect(w.text.hasSuffix("}\n"))
        let parsed = try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any]
        let back = (parsed?["ints"] as? [[String: Any]])?.compactMap { ($0["i"] as? NSNumber)?.int64Value }
        #expect(back == ints)
        #expect(parsed?["t"] as? Bool == true && parsed?["f"] as? Bool == false)
        #expect(parsed?["none"] is NSNull && parsed?["nothing"] is NSNull)
        #expect((parsed?["empty"] as? [Any])?.isEmpty == true)
        #expect(w.text.hasPrefix(#"{"ints":[{"i":0},{"i":7},{"i":-1},{"i":10},"#))
    }
}
