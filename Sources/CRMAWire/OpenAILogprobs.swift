/// `choices[i].logprobs` of a text completion (OpenAI's legacy shape, which lm-evaluation-harness reads):
/// per token its text, its log-probability given the tokens before it (null for a prompt's first token,
/// which nothing predicts), the most likely tokens at its position by text, and where its text starts in
/// the choice's `text` (in Unicode scalars, as Python counts).
public struct CompletionLogprobs: Sendable, Equatable, Codable {
    public var tokens: [String]
    public var tokenLogprobs: [Double?]
    public var topLogprobs: [[String: Double]?]
    public var textOffset: [Int]

    public init(tokens: [String], tokenLogprobs: [Double?], topLogprobs: [[String: Double]?], textOffset: [Int]) {
        self.tokens = tokens
        self.tokenLogprobs = tokenLogprobs
        self.topLogprobs = topLogprobs
        self.textOffset = textOffset
    }

    enum CodingKeys: String, CodingKey {
        case tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset"
    }

    // Arrays of optionals are written with explicit nulls, as OpenAI does.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tokens, forKey: .tokens)
        var lp = c.nestedUnkeyedContainer(forKey: .tokenLogprobs)
        for v in tokenLogprobs { if let v { try lp.encode(v) } else { try lp.encodeNil() } }
        var top = c.nestedUnkeyedContainer(forKey: .topLogprobs)
        for v in topLogprobs { if let v { try top.encode(v) } else { try top.encodeNil() } }
        try c.encode(textOffset, forKey: .textOffset)
    }
}

/// `choices[i].logprobs` of a chat completion: each generated token with its log-probability, its bytes and
/// the most likely tokens at its position.
public struct ChatLogprobs: Sendable, Equatable, Codable {
    public struct Token: Sendable, Equatable, Codable {
        public var token: String
        public var logprob: Double
        public var bytes: [Int]
        public var topLogprobs: [Alternative]

        public init(token: String, logprob: Double, bytes: [Int], topLogprobs: [Alternative]) {
            self.token = token
            self.logprob = logprob
            self.bytes = bytes
            self.topLogprobs = topLogprobs
        }

        enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
    }

    public struct Alternative: Sendable, Equatable, Codable {
        public var token: String
        public var logprob: Double
        public var bytes: [Int]

        public init(token: String, logprob: Double, bytes: [Int]) {
            self.token = token
            self.logprob = logprob
            self.bytes = bytes
        }
    }

    public var content: [Token]

    public init(content: [Token]) { self.content = content }
}
