/// A document as token ids, with which tokens are learned (`lossMask[i]`: whether predicting token `i`
/// counts in the loss — false for prompts, system text and user turns).
public struct TokenizedDocument: Sendable, Equatable, Codable {
    public var tokens: [Int32]
    public var lossMask: [Bool]

    public init(tokens: [Int32], lossMask: [Bool]? = nil) {
        self.tokens = tokens
        self.lossMask = lossMask ?? [Bool](repeating: true, count: tokens.count)
        precondition(self.lossMask.count == tokens.count)
    }
}
