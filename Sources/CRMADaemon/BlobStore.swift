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
        try AtomicFile.write(data, to: path(hash), mode: 0o640)
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
