/// What a `/proc/<pid>/fd/N` link points at, in the kernel's own words (`proc(5)`).
public enum FDTarget: Hashable, Sendable {
    case socket(inode: UInt64)
    case pipe(inode: UInt64)
    /// `anon_inode:[eventpoll]`, `anon_inode:inotify`, ...: the kind inside.
    case anonInode(String)
    /// A path in the file system; `deleted` when the kernel appended ` (deleted)`.
    case path(String, deleted: Bool)
    /// Any other `type:[inode]` form (`net:[...]`, `mnt:[...]`).
    case other(String)

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

    public var socketInode: UInt64? {
        if case .socket(let inode) = self { return inode }
        return nil
    }
}
