/// What `POST /v1/generate` answers.
public struct GenerateResponse: Sendable, Equatable, Codable {
    public var text: String
    /// Tokens generated.
    public var tokens: Int
    /// Why generation stopped: "end_of_turn", "max_tokens" or "context_full".
    public var stop: String
    /// The adapters that answered, as an inference API model name: `base`, or `crma:<domain>` (absent in
    /// answers of a crmad from before routing).
    public var model: String?

    public init(text: String, tokens: Int, stop: String, model: String? = nil) {
        self.text = text
        self.tokens = tokens
        self.stop = stop
        self.model = model
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
