#if canImport(Glibc)
    import Glibc
#endif
import Foundation

/// Durable file replacement: write to a temporary name in the same directory, fsync it, rename it over
/// the target, and fsync the directory, so a crash leaves either the old file or the new one, whole.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// `mode`: permission bits of the new file (before the umask).
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
        var ok = true
        var reason = ""
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    reason = String(cString: strerror(errno))
                    return
                }
                off += n
            }
        }
        if ok, fsync(fd) != 0 {
            ok = false
            reason = "fsync: " + String(cString: strerror(errno))
        }
        close(fd)
        guard ok else {
            unlink(tmp)
            throw WriteError(path: path, reason: reason)
        }
        guard rename(tmp, path) == 0 else {
            let r = String(cString: strerror(errno))
            unlink(tmp)
            throw WriteError(path: path, reason: "rename: \(r)")
        }
        syncDirectory(of: path)
    }

    /// fsync of the directory holding `path`, so a rename into it or an unlink from it is durable.
    public static func syncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
