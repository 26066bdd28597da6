/// A stored source file.
public struct FileRecord: Sendable, Equatable, Codable {
    public var hash: String
    public var domain: String
    public var name: String
    public var bytes: Int
    public var documents: Int
    public var ingestedAt: Double
}
