import Foundation

/// Why an inbox entry was refused and what the operator should do; written beside the moved entry as
/// `<name>.error.json` and sent to the journal.
public struct IngestRejection: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        case notRegularFile = "not_a_regular_file"
        case symlink
        case hardLink = "hard_link"
        case tooLarge = "too_large"
        case unreadable
        case badDomain = "bad_domain_name"
        case outsideDomain = "outside_a_domain_directory"
        case badName = "bad_file_name"
        case badContent = "bad_content"
        case tooManyDocuments = "too_many_documents"
    }

    public var kind: Kind
    /// Path relative to the inbox, as found.
    public var file: String
    public var what: String
    public var fix: String

    public init(_ kind: Kind, file: String, what: String, fix: String) {
        self.kind = kind
        self.file = file
        self.what = what
        self.fix = fix
    }

    public var description: String { "\(file): \(what). \(fix)" }
}
