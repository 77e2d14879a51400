/// Fields of `/proc/<pid>/stat` (`proc(5)`).
public enum ProcStat {
    /// Field 22, `starttime`: clock ticks after boot. The command name (field 2) may hold spaces
    /// and parentheses, so fields are counted from the last `)`.
    public static func startTimeTicks(_ text: String) -> UInt64? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // rest[0] is field 3 (state); field 22 is rest[19].
        guard rest.count > 19 else { return nil }
        return UInt64(rest[19])
    }
}
