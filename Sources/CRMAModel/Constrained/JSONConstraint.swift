/// Decoding constrained to the documents of a ``JSONSchema``: a token is allowed only if the text so far,
/// followed by it, can still complete to a document that parses and validates; a stop token only once the
/// document is complete. Special tokens other than the stop tokens are never allowed.
///
/// - Important: one generation at a time; it advances with every token generated.
public final class JSONConstraint {
    private(set) var matcher: JSONSchemaMatcher
    /// Each token's bytes (empty for special tokens: never allowed).
    let tokenBytes: [[UInt8]]
    let stopTokens: Set<Int32>

    public init(schema: JSONSchema, tokenizer: Tokenizer, stopTokens: Set<Int32>) {
        matcher = JSONSchemaMatcher(schema: schema)
        tokenBytes = (0..<tokenizer.vocabularySize).map { id in
            tokenizer.specialIDs.contains(Int32(id)) ? [] : tokenizer.bytes([Int32(id)])
        }
        self.stopTokens = stopTokens
    }

    /// Whether the document is complete.
    public var isComplete: Bool { matcher.isComplete }

    /// Whether `id` may come next.
    public func allows(_ id: Int32) -> Bool {
        if stopTokens.contains(id) { return matcher.isComplete }
        guard id >= 0, Int(id) < tokenBytes.count else { return false }
        let bytes = tokenBytes[Int(id)]
        return !bytes.isEmpty && matcher.accepts(bytes)
    }

    /// Reads the token generated (one `allows` said yes to).
    public func advance(_ id: Int32) {
        guard !stopTokens.contains(id), id >= 0, Int(id) < tokenBytes.count else { return }
        for b in tokenBytes[Int(id)] { matcher.feed(b) }
    }
}
