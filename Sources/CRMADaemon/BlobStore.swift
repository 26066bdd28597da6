import CRMAModel
import Foundation

/// Immutable, content-addressed files under `blobs/ab/abcdef…` (sha256). A blob is written to a temporary
/// name, fsync'ed, renamed into place and its directory fsync'ed, so after `put` returns the bytes
/// survive a power cut; writing the same content twice is a no-op.
public struct BlobStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    public func path(_ hash: String) -> String { "\(root)/\(hash.prefix(2))/\(hash)" }

    public func contains(_ hash: String) -> Bool { FileManager.default.fileExists(atPath: path(hash)) }

    /// Stores `data` and returns its sha256 (hex).
    @discardableResult
    public func put(_ data: Data) throws -> String {
        let hash = SHA256.hex(data)
        if contains(hash) { return hash }
        let dir = "\(root)/\(hash.prefix(2))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Durable.write(data, to: path(hash))
        return hash
    }

    public func get(_ hash: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path(hash)))
    }

    /// Whether the blob exists and its content still hashes to its name.
    public func verify(_ hash: String) -> Bool {
        guard let d = try? get(hash) else { return false }
        return SHA256.hex(d) == hash
    }
}

/// fsync-disciplined file writes.
public enum Durable {
    public enum WriteError: Error, CustomStringConvertible {
        case system(String, path: String, errno: Int32)
        public var description: String {
            switch self {
            case .system(let op, let path, let e):
                let hint = e == ENOSPC ? " (the disk is full: free space in the state directory)" : ""
                return "\(op) \(path): \(String(cString: strerror(e)))\(hint)"
            }
        }
        public var isDiskFull: Bool {
            if case .system(_, _, let e) = self { return e == ENOSPC || e == EDQUOT }
            return false
        }
    }

    /// Writes `data` to `path` atomically and durably: temp file, fsync, rename, fsync of the directory.
    public static func write(_ data: Data, to path: String) throws {
        let tmp = "\(path).tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw WriteError.system("create", path: tmp, errno: errno) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw WriteError.system("write", path: tmp, errno: errno)
                    }
                    off += n
                }
            }
            guard fsync(fd) == 0 else { throw WriteError.system("fsync", path: tmp, errno: errno) }
        }
        guard rename(tmp, path) == 0 else { throw WriteError.system("rename", path: path, errno: errno) }
        ok = true
        syncDirectory(of: path)
    }

    /// fsync of the directory holding `path`, so a rename into it is durable.
    public static func syncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
