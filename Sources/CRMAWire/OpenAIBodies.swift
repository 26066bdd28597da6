/// The OpenAI-compatible inference API (`/v1/chat/completions`, `/v1/completions`, `/v1/models`): the
/// subset of OpenAI's request and response shapes crmad serves, so OpenAI clients work unchanged.
///
/// `model` picks the adapters: `base` (no adapters), `crma:<domain>` (that domain's adapters in the active
/// version) or `crma` (the domain chosen for each request by routing; the response's `model` names it).
public enum InferenceModel {
    public static let base = "base"
    public static let routed = "crma"
    public static let domainPrefix = "crma:"
}

/// `stop`: one string or a list (OpenAI accepts both).
public struct StopSequences: Sendable, Equatable, Codable {
    public var values: [String]

    public init(_ values: [String]) { self.values = values }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }
}

/// What both completion requests share.
public struct SamplingFields: Sendable, Equatable, Codable {
    public var maxTokens: Int?
    public var temperature: Float?
    public var topP: Float?
    public var stop: StopSequences?
    public var seed: UInt64?
    public var stream: Bool?
    /// `{"include_usage": true}`: a last streamed chunk carries the usage.
    public var streamOptions: StreamOptions?
    public var n: Int?

    public struct StreamOptions: Sendable, Equatable, Codable {
        public var includeUsage: Bool?

        public init(includeUsage: Bool? = nil) { self.includeUsage = includeUsage }

        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    public init(
        maxTokens: Int? = nil, temperature: Float? = nil, topP: Float? = nil, stop: [String]? = nil, seed: UInt64? = nil,
        stream: Bool? = nil
    ) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.stop = stop.map(StopSequences.init)
        self.seed = seed
        self.stream = stream
    }

    enum CodingKeys: String, CodingKey {
        case maxTokens = "max_tokens", temperature, topP = "top_p", stop, seed, stream, n
        case streamOptions = "stream_options"
    }
}

/// `POST /v1/chat/completions`.
public struct ChatCompletionRequest: Sendable, Equatable, Codable {
    public struct Message: Sendable, Equatable, Codable {
        public var role: String
        /// The message's text. Sent either as a string or as a list of content parts; text parts are joined
        /// with newlines, any other part (an image, audio) is refused when decoding.
        public var content: String

        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }

        enum CodingKeys: String, CodingKey { case role, content }

        struct Part: Decodable {
            var type: String
            var text: String?
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            role = try c.decode(String.self, forKey: .role)
            if let text = try? c.decode(String.self, forKey: .content) {
                content = text
                return
            }
            let parts = try c.decode([Part].self, forKey: .content)
            guard let other = parts.first(where: { $0.type != "text" || $0.text == nil }) else {
                content = parts.compactMap(\.text).joined(separator: "\n")
                return
            }
            throw DecodingError.dataCorruptedError(
                forKey: .content, in: c,
                debugDescription: "content part of type \"\(other.type)\" is not supported: only text parts are")
        }
    }
    public var model: String
    public var messages: [Message]
    /// OpenAI's newer name for `max_tokens`.
    public var maxCompletionTokens: Int?
    /// `logprobs: true`: the reply's tokens with their log-probabilities; `top_logprobs` (0–5) most likely
    /// tokens at each position.
    public var logprobs: Bool?
    public var topLogprobs: Int?
    public var sampling: SamplingFields
    /// `{"type": "text"}` (what every answer is without it), `{"type": "json_object"}` or
    /// `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`: decoding constrained to it.
    public var responseFormat: ResponseFormat?
    /// Fields of OpenAI's API this server does not implement that the request set (`tools`, `tool_choice`,
    /// `functions`, `function_call`): refused with 400, never ignored.
    public var unsupported: [String] = []

    public struct ResponseFormat: Sendable, Equatable, Codable {
        public struct JSONSchemaFormat: Sendable, Equatable, Codable {
            public var name: String?
            public var schema: JSONValue?
            public var strict: Bool?

            public init(name: String? = nil, schema: JSONValue?, strict: Bool? = nil) {
                self.name = name
                self.schema = schema
                self.strict = strict
            }
        }
        public var type: String
        public var jsonSchema: JSONSchemaFormat?

        public init(type: String, jsonSchema: JSONSchemaFormat? = nil) {
            self.type = type
            self.jsonSchema = jsonSchema
        }

        enum CodingKeys: String, CodingKey { case type, jsonSchema = "json_schema" }
    }

    public init(model: String, messages: [Message], sampling: SamplingFields = SamplingFields()) {
        self.model = model
        self.messages = messages
        self.sampling = sampling
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, maxCompletionTokens = "max_completion_tokens", logprobs, topLogprobs = "top_logprobs"
        case responseFormat = "response_format"
    }

    /// The keys of features that are refused rather than ignored.
    enum UnsupportedKeys: String, CodingKey, CaseIterable {
        case tools, toolChoice = "tool_choice", functions, functionCall = "function_call"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        messages = try c.decode([Message].self, forKey: .messages)
        maxCompletionTokens = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
        responseFormat = try c.decodeIfPresent(ResponseFormat.self, forKey: .responseFormat)
        sampling = try SamplingFields(from: decoder)
        let u = try decoder.container(keyedBy: UnsupportedKeys.self)
        for key in UnsupportedKeys.allCases where u.contains(key) {
            if try u.decodeNil(forKey: key) { continue }
            unsupported.append(key.stringValue)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(messages, forKey: .messages)
        try c.encodeIfPresent(maxCompletionTokens, forKey: .maxCompletionTokens)
        try c.encodeIfPresent(logprobs, forKey: .logprobs)
        try c.encodeIfPresent(topLogprobs, forKey: .topLogprobs)
        try c.encodeIfPresent(responseFormat, forKey: .responseFormat)
        try sampling.encode(to: encoder)
    }
}

/// One prompt of a text completion: text, or token ids of the model's vocabulary (what lm-evaluation-harness
/// sends when it tokenizes itself).
public enum CompletionPrompt: Sendable, Equatable {
    case text(String)
    case tokens([Int32])
}

/// `POST /v1/completions`: `prompt` is a string, a list of strings, a list of token ids or a list of such
/// lists; each prompt gets its own choice (`index` in the order given). `echo` puts the prompt before the
/// completion in `text`; `logprobs` (0–5) reports each token's log-probability and that many most likely
/// tokens at its position — for the prompt's tokens too with `echo`, which with `max_tokens: 0` scores a
/// text without generating.
public struct CompletionRequest: Sendable, Equatable, Codable {
    public var model: String
    public var prompts: [CompletionPrompt]
    public var echo: Bool?
    public var logprobs: Int?
    public var sampling: SamplingFields

    public init(model: String, prompt: String, sampling: SamplingFields = SamplingFields()) {
        self.init(model: model, prompts: [.text(prompt)], sampling: sampling)
    }

    public init(
        model: String, prompts: [CompletionPrompt], echo: Bool? = nil, logprobs: Int? = nil,
        sampling: SamplingFields = SamplingFields()
    ) {
        self.model = model
        self.prompts = prompts
        self.echo = echo
        self.logprobs = logprobs
        self.sampling = sampling
    }

    enum CodingKeys: String, CodingKey { case model, prompt, echo, logprobs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        if let one = try? c.decode(String.self, forKey: .prompt) {
            prompts = [.text(one)]
        } else if let texts = try? c.decode([String].self, forKey: .prompt) {
            prompts = texts.map(CompletionPrompt.text)
        } else if let ids = try? c.decode([Int32].self, forKey: .prompt) {
            prompts = [.tokens(ids)]
        } else if let lists = try? c.decode([[Int32]].self, forKey: .prompt) {
            prompts = lists.map(CompletionPrompt.tokens)
        } else {
            throw DecodingError.dataCorruptedError(
                forKey: .prompt, in: c,
                debugDescription: "prompt must be a string, a list of strings, a list of token ids or a list of such lists")
        }
        guard !prompts.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .prompt, in: c, debugDescription: "prompt is an empty list")
        }
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        sampling = try SamplingFields(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        switch prompts.count == 1 ? prompts[0] : nil {
        case .text(let t): try c.encode(t, forKey: .prompt)
        case .tokens(let ids): try c.encode(ids, forKey: .prompt)
        case nil:
            let texts: [String] = prompts.compactMap { if case .text(let t) = $0 { t } else { nil } }
            let lists: [[Int32]] = prompts.map { if case .tokens(let ids) = $0 { ids } else { [] } }
            if texts.count == prompts.count {
                try c.encode(texts, forKey: .prompt)
            } else {
                try c.encode(lists, forKey: .prompt)
            }
        }
        try c.encodeIfPresent(echo, forKey: .echo)
        try c.encodeIfPresent(logprobs, forKey: .logprobs)
        try sampling.encode(to: encoder)
    }
}

/// Token counts of one request.
public struct Usage: Sendable, Equatable, Codable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        totalTokens = promptTokens + completionTokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }
}

/// A completion response or one streamed chunk of it: `object` "chat.completion" (chunks
/// "chat.completion.chunk") with ``ChatChoice``s, or "text_completion" with ``TextChoice``s.
public struct CompletionEnvelope<Choice: Sendable & Equatable & Codable>: Sendable, Equatable, Codable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?

    public init(id: String, object: String, created: Int, model: String, choices: [Choice], usage: Usage?) {
        self.id = id
        self.object = object
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
    }
}

public typealias ChatCompletionResponse = CompletionEnvelope<ChatChoice>
public typealias CompletionResponse = CompletionEnvelope<TextChoice>

/// One choice of a chat completion.
public struct ChatChoice: Sendable, Equatable, Codable {
    /// What a streamed chunk adds: the role in the first chunk, then text.
    public struct Delta: Sendable, Equatable, Codable {
        public var role: String?
        public var content: String?

        public init(role: String? = nil, content: String? = nil) {
            self.role = role
            self.content = content
        }
    }
    public var index: Int
    /// The whole reply (not streamed).
    public var message: ChatCompletionRequest.Message?
    public var delta: Delta?
    /// With `logprobs: true`: the reply's tokens and their log-probabilities.
    public var logprobs: ChatLogprobs?
    /// "stop" (end of turn or a stop sequence) or "length" (max_tokens or the context), on the last chunk.
    public var finishReason: String?

    public init(
        index: Int = 0, message: ChatCompletionRequest.Message? = nil, delta: Delta? = nil, logprobs: ChatLogprobs? = nil,
        finishReason: String?
    ) {
        self.index = index
        self.message = message
        self.delta = delta
        self.logprobs = logprobs
        self.finishReason = finishReason
    }

    enum CodingKeys: String, CodingKey { case index, message, delta, logprobs, finishReason = "finish_reason" }
}

/// One choice of a text completion (streamed chunks carry the new text).
public struct TextChoice: Sendable, Equatable, Codable {
    public var index: Int
    public var text: String
    public var logprobs: CompletionLogprobs?
    public var finishReason: String?

    public init(index: Int = 0, text: String, logprobs: CompletionLogprobs? = nil, finishReason: String?) {
        self.index = index
        self.text = text
        self.logprobs = logprobs
        self.finishReason = finishReason
    }

    enum CodingKeys: String, CodingKey { case index, text, logprobs, finishReason = "finish_reason" }
}

/// `GET /v1/models`.
public struct ModelList: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var id: String
        public var object = "model"
        public var created: Int
        public var ownedBy = "crmad"

        public init(id: String, created: Int) {
            self.id = id
            self.created = created
        }

        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
    public var object = "list"
    public var data: [Entry]

    public init(data: [Entry]) { self.data = data }
}
