/// `POST /v1/rollback`: make an earlier accepted version (or the base model, 1) active again.
public struct RollbackRequest: Sendable, Equatable, Codable {
    public var version: Int64

    public init(version: Int64) { self.version = version }
}

/// `POST /v1/retry`: queue another update of a domain, with the configured strategy when `strategy` is nil.
public struct RetryRequest: Sendable, Equatable, Codable {
    public var domain: String
    public var strategy: String?

    /// The names `strategy` may take: CRMAContinual's `Strategy` raw values in its order, spelled out here
    /// for clients that do not link the training code (a test checks the two lists are the same).
    public static let strategies = ["naive", "frozen", "crma", "crma-identity", "replay", "ewc", "lwf", "olora"]

    public init(domain: String, strategy: String? = nil) {
        self.domain = domain
        self.strategy = strategy
    }
}

/// `POST /v1/generate`: a greedy answer to `prompt` under the active version, `max_tokens` at most
/// (the server's default is 32). `model` picks the adapters as the inference API does (``InferenceModel``):
/// `crma` (the default) routes the prompt to the learned domain it belongs to, `crma:<domain>` names one,
/// `base` uses none.
public struct GenerateRequest: Sendable, Equatable, Codable {
    public var prompt: String
    public var maxTokens: Int?
    public var model: String?

    public init(prompt: String, maxTokens: Int? = nil, model: String? = nil) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.model = model
    }

    enum CodingKeys: String, CodingKey {
        case prompt, model
        case maxTokens = "max_tokens"
    }
}

/// `POST /v1/score`: the loss of `text` under the active version.
public struct ScoreRequest: Sendable, Equatable, Codable {
    public var text: String

    public init(text: String) { self.text = text }
}
