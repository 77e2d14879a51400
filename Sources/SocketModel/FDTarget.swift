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

    public var socketInode: UInt64? {
        if case .socket(let inode) = self { return inode }
        return nil
    }
}
