#if canImport(Glibc)
    import Glibc
#endif
import Foundation

/// A read-only memory map of a whole file. The mapping lives as long as this object.
///
/// - Important: the bytes are immutable for the lifetime of the map (PROT_READ, MAP_PRIVATE), which is
///   why sharing it across threads is safe (`@unchecked Sendable`).
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// The mapped bytes; empty for an empty file.
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    /// Maps `path` read-only. Throws ``ModelFileError/cannotOpen(path:reason:)`` when the file cannot
    /// be opened, is not a regular file, or cannot be mapped.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ModelFileError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ModelFileError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFileError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw ModelFileError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// Tells the kernel the pages of `range` will not be read again soon, so a large file read once
    /// (model loading) does not keep its pages resident beside the converted copy.
    public func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (range.lowerBound + page - 1) / page * page
        let hi = range.upperBound / page * page
        guard hi > lo else { return }
        madvise(base + lo, hi - lo, MADV_DONTNEED)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}
