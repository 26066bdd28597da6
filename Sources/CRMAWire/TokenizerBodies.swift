/// `GET /tokenizer_info`: what a client needs to tokenize as crmad does (vLLM's endpoint, which
/// lm-evaluation-harness's remote tokenizer reads). Absent tokens are explicit nulls.
public struct TokenizerInfo: Sendable, Equatable, Codable {
    public var eosToken: String?
    public var bosToken: String?
    public var padToken: String?
    /// The model's Jinja chat template, as its file carries it.
    public var chatTemplate: String?
    public var modelMaxLength: Int
    public var vocabularySize: Int
    public var tokenizerClass: String

    public init(
        eosToken: String?, bosToken: String?, padToken: String?, chatTemplate: String?, modelMaxLength: Int,
        vocabularySize: Int, tokenizerClass: String
    ) {
        self.eosToken = eosToken
        self.bosToken = bosToken
        self.padToken = padToken
        self.chatTemplate = chatTemplate
        self.modelMaxLength = modelMaxLength
        self.vocabularySize = vocabularySize
        self.tokenizerClass = tokenizerClass
    }

    enum CodingKeys: String, CodingKey {
        case eosToken = "eos_token", bosToken = "bos_token", padToken = "pad_token", chatTemplate = "chat_template"
        case modelMaxLength = "model_max_length", vocabularySize = "vocab_size", tokenizerClass = "tokenizer_class"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(eosToken, forKey: .eosToken)
        try c.encode(bosToken, forKey: .bosToken)
        try c.encode(padToken, forKey: .padToken)
        try c.encode(chatTemplate, forKey: .chatTemplate)
        try c.encode(modelMaxLength, forKey: .modelMaxLength)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(tokenizerClass, forKey: .tokenizerClass)
    }
}

/// `POST /tokenize`: a text (`prompt`) or chat `messages` (rendered with the model's chat template, ending
/// with the assistant's turn opening) to token ids. `add_special_tokens` (default true) adds the model's
/// beginning-of-text token where the model uses one.
public struct TokenizeRequest: Sendable, Equatable, Codable {
    public var prompt: String?
    public var messages: [ChatCompletionRequest.Message]?
    public var addSpecialTokens: Bool?

    public init(prompt: String? = nil, messages: [ChatCompletionRequest.Message]? = nil, addSpecialTokens: Bool? = nil) {
        self.prompt = prompt
        self.messages = messages
        self.addSpecialTokens = addSpecialTokens
    }

    enum CodingKeys: String, CodingKey { case prompt, messages, addSpecialTokens = "add_special_tokens" }
}

public struct TokenizeResponse: Sendable, Equatable, Codable {
    public var tokens: [Int32]
    public var count: Int
    public var maxModelLength: Int

    public init(tokens: [Int32], maxModelLength: Int) {
        self.tokens = tokens
        count = tokens.count
        self.maxModelLength = maxModelLength
    }

    enum CodingKeys: String, CodingKey { case tokens, count, maxModelLength = "max_model_len" }
}

/// `POST /detokenize`: token ids to text.
public struct DetokenizeRequest: Sendable, Equatable, Codable {
    public var tokens: [Int32]

    public init(tokens: [Int32]) { self.tokens = tokens }
}

public struct DetokenizeResponse: Sendable, Equatable, Codable {
    public var prompt: String

    public init(prompt: String) { self.prompt = prompt }
}
