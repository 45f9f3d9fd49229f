import Glibc
import SwitchyardTasks

/// What the file system says about a store path before SQLite opens it, so a refusal names the
/// real cause. SQLite alone is misleading here: it creates a new database in a zero-length file
/// without a word, and on a read-only file or file system it silently opens read-only and then
/// fails at the WAL switch or the first write with a message about locks or journal modes.
enum StoreFile {
    /// Refuses an existing empty file (it is what a damaged or truncated store, or an unrelated
    /// file created by mistake, looks like; SQLite would turn it into a new, empty store) and a
    /// file or directory the process cannot write (`readOnly` opens skip that check).
    static func check(_ path: String, readOnly: Bool) throws(StoreError) {
        var info = stat()
        if stat(path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFREG, info.st_size == 0 {
                throw StoreError(
                    kind: .corrupt,
                    message: "the file exists but is empty (0 bytes): a store is never empty once created, so it"
                        + " was left untouched rather than made a new store (if a first start was interrupted, delete"
                        + " it; otherwise restore it from a backup)",
                    path: path)
            }
            if !readOnly, let cause = writeProblem(path) {
                throw StoreError(kind: .readOnly, message: "the database file cannot be written: \(cause)", path: path)
            }
        }
        if !readOnly, let cause = writeProblem(directory(of: path)) {
            throw StoreError(
                kind: .readOnly,
                message: "cannot create files in \(directory(of: path)) (the -wal and -shm files live beside the"
                    + " database): \(cause)",
                path: path)
        }
    }

    /// Why `path` cannot be written, or nil when it can: a read-only file system, missing
    /// permission, an immutable file. (A missing directory is SQLite's `cannotOpen`.)
    static func writeProblem(_ path: String) -> String? {
        guard access(path, W_OK) != 0 else { return nil }
        let code = errno
        switch code {
        case ENOENT, ENOTDIR: return nil
        case EROFS: return "the file system is mounted read-only (EROFS)"
        case EACCES:
            return "permission denied for user id \(geteuid()) (EACCES: check the owner and mode)"
        case EPERM: return "the operating system forbids writing it (EPERM: an immutable or append-only file?)"
        default: return String(cString: strerror(code)) + " (errno \(code))"
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
