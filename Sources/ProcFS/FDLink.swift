import SocketModel

extension FDTarget {
    /// Parses a `readlink(2)` result such as `socket:[8819]`.
    public init(link: String) {
        if link.hasPrefix("/") {
            let suffix = " (deleted)"
            if link.hasSuffix(suffix) {
                self = .path(String(link.dropLast(suffix.count)), deleted: true)
            } else {
                self = .path(link, deleted: false)
            }
            return
        }
        if link.hasPrefix("anon_inode:") {
            var kind = link.dropFirst("anon_inode:".count)
            if kind.hasPrefix("["), kind.hasSuffix("]") { kind = kind.dropFirst().dropLast() }
            self = .anonInode(String(kind))
            return
        }
        if let open = link.firstIndex(of: "["), link.hasSuffix("]"),
           let inode = UInt64(link[link.index(after: open)..<link.index(before: link.endIndex)]) {
            switch link[..<open] {
            case "socket:": self = .socket(inode: inode); return
            case "pipe:": self = .pipe(inode: inode); return
            default: break
            }
        }
        self = .other(link)
    }
}
