/// What `POST /v1/generate` answers.
public struct GenerateResponse: Sendable, Equatable, Codable {
    public var text: String
    /// Tokens generated.
    public var tokens: Int
    /// Why generation stopped: "end_of_turn", "max_tokens" or "context_full".
    public var stop: String

    public init(text: String, tokens: Int, stop: String) {
        self.text = text
        self.tokens = tokens
        self.stop = stop
    }
}

/// What `POST /v1/score` answers.
public struct ScoreResponse: Sendable, Equatable, Codable {
    /// Token-mean negative log-likelihood (nats).
    public var loss: Double
    public var perplexity: Double
    /// Tokens scored (predicted), one less than the text's tokens.
    public var tokens: Int

    public init(loss: Double, perplexity: Double, tokens: Int) {
        self.loss = loss
        self.perplexity = perplexity
        self.tokens = tokens
    }
}
