/// Decoding constrained to the documents of a ``JSONSchema``: a token is allowed only if the text so far,
/// followed by it, can still complete to a document that parses and validates; a stop token only once the
/// document is complete. Special tokens other than the stop tokens are never allowed.
///
/// - Important: one generation at a time; it advances with every token generated.
public final class JSONConstraint {
    private(set) var matcher: JSONSchemaMatcher
    let tokens: TokenByteTable
    let stopTokens: Set<Int32>

    /// `tokens`: the model's ``TokenByteTable`` (build it once and keep it: crmad does).
    public init(schema: JSONSchema, tokens: TokenByteTable, stopTokens: Set<Int32>) {
        matcher = JSONSchemaMatcher(schema: schema)
        self.tokens = tokens
        self.stopTokens = stopTokens
    }

    /// Whether the document is complete.
    public var isComplete: Bool { matcher.isComplete }

    /// Whether `id` may come next.
    public func allows(_ id: Int32) -> Bool {
        if stopTokens.contains(id) { return matcher.isComplete }
        let bytes = tokens[id]
        return !bytes.isEmpty && matcher.accepts(bytes)
    }

    /// Reads the token generated (one `allows` said yes to).
    public func advance(_ id: Int32) {
        guard !stopTokens.contains(id) else { return }
        for b in tokens[id] { matcher.feed(b) }
    }
}
