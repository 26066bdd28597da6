import CRMAModel

/// One training document as read from a file, before tokenization.
public enum TrainingExample: Sendable, Equatable {
    /// Plain text: every token is learned.
    case text(String)
    /// A conversation rendered with the model's chat template; only assistant turns are learned.
    case chat([ChatMessage])
    /// Only the completion is learned.
    case promptCompletion(prompt: String, completion: String)

    /// A stable identity for splitting and de-duplication: the canonical text of the example.
    public var canonicalText: String {
        switch self {
        case .text(let s): s
        case .chat(let m): m.map { "\($0.role)\u{1F}\($0.content)" }.joined(separator: "\u{1E}")
        case .promptCompletion(let p, let c): p + "\u{1F}" + c
        }
    }
}

/// Where an example came from, for error messages and lineage.
public struct ExampleSource: Sendable, Equatable {
    public var file: String
    /// 1-based line for JSONL files; nil for whole-file documents.
    public var line: Int?
}
