import CMariaDB

extension MySQLConnection {
    /// The age in seconds of each session's open InnoDB transaction
    /// (`information_schema.INNODB_TRX`): every session's, or only those of `ids`.
    public func transactionAges(_ ids: [UInt64]? = nil) throws(MySQLError) -> [UInt64: Int64] {
        if let ids, ids.isEmpty { return [:] }
        var sql = "SELECT trx_mysql_thread_id, TIMESTAMPDIFF(SECOND, trx_started, NOW()) FROM information_schema.INNODB_TRX"
        if let ids { sql += " WHERE trx_mysql_thread_id IN (\(ids.map(String.init).joined(separator: ",")))" }
        var out: [UInt64: Int64] = [:]
        for row in try query(sql).rows {
            if let id = UInt64(row[0] ?? ""), let age = Int64(row[1] ?? "") { out[id] = max(out[id] ?? 0, age) }
        }
        return out
    }

    /// `text` as a string literal of this connection's character set, quotes included
    /// (`mysql_real_escape_string(3)`); `NULL` for nil.
    public func literal(_ text: String?) -> String {
        guard let text else { return "NULL" }
        let bytes = Array(text.utf8)
        var out = [CChar](repeating: 0, count: bytes.count * 2 + 1)
        let n = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { mysql_real_escape_string(handle, &out, $0.baseAddress, UInt($0.count)) }
        }
        // (ulong)-1: the character set forbids this text; NULL rather than a wrong literal.
        guard n <= UInt(out.count) else { return "NULL" }
        return "'" + String(decoding: out[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self) + "'"
    }
}
