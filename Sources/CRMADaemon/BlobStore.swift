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

    /// The blob's bytes, checked against its name: a blob whose content no longer hashes to it (a disk
    /// error, a hand edit) is ``BlobStoreError/corrupt(_:path:)``, never silently used.
    public func get(_ hash: String) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(hash)))
        guard SHA256.hex(data) == hash else { throw BlobStoreError.corrupt(hash, path: path(hash)) }
        return data
    }
}

/// Why a stored blob cannot be used.
public enum BlobStoreError: Error, Equatable, CustomStringConvertible {
    /// The file's content does not hash to its name.
    case corrupt(String, path: String)

    public var description: String {
        switch self {
        case .corrupt(let hash, let path):
            "blob \(path) is corrupt: its content no longer has the sha256 \(hash) it was stored under"
        }
    }
}
