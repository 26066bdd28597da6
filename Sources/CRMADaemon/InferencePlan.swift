import CRMAModel
import CRMAWire

/// A completion request checked and turned into what generation needs: the prompt's ids, how to sample,
/// where to stop, and the text routing scores. Pure: built on the request's thread, run under the compute turn.
public struct InferencePlan: Sendable {
    /// `base`, `crma` or `crma:<domain>` as the request named it.
    public var model: String
    public var prompt: [Int32]
    public var maxTokens: Int
    public var sampling: SamplingParameters
    public var stopTokens: Set<Int32>
    public var stopSequences: [String]
    /// The ids `model: "crma"` routes on: the user's words, without the chat template.
    public var routingText: [Int32]
    public var stream: Bool
    public var includeUsageInStream: Bool

    /// Why a request cannot be served as asked (400), or names no model crmad serves (404).
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case badRequest(String)
        case unknownModel(String, known: [String])

        public var description: String {
            switch self {
            case .badRequest(let m): m
            case .unknownModel(let m, let known):
                "no model \"\(m)\"; this daemon serves \(known.joined(separator: ", ")) (GET /v1/models)"
            }
        }
    }

    /// A chat completion: the messages rendered with the model's chat template.
    public static func chat(
        _ r: ChatCompletionRequest, tokenizer: Tokenizer, generator: Generator, maxTokensLimit: Int, contextLength: Int
    ) throws -> InferencePlan {
        guard !r.messages.isEmpty else { throw Refusal.badRequest("messages is empty") }
        if let field = r.unsupported.first {
            throw Refusal.badRequest(
                "\(field) is not supported by crmad: it answers in plain text (no tool calls, no constrained output formats)")
        }
        for m in r.messages where !["system", "user", "assistant"].contains(m.role) {
            throw Refusal.badRequest("message role \"\(m.role)\" is not system, user or assistant")
        }
        let (prompt, stops) = generator.chatPrompt(r.messages.map { ChatMessage(role: $0.role, content: $0.content) })
        let words = r.messages.filter { $0.role == "user" }.map(\.content).joined(separator: "\n")
        return try make(
            r.model, r.sampling, maxTokens: r.maxCompletionTokens ?? r.sampling.maxTokens, prompt: prompt,
            stopTokens: stops, routingText: tokenizer.encode(words), limit: maxTokensLimit,
            contextLength: contextLength, defaultMaxTokens: maxTokensLimit)
    }

    /// A text completion of `prompt` as it is (no template), ending at the end-of-text token.
    public static func completion(
        _ r: CompletionRequest, tokenizer: Tokenizer, maxTokensLimit: Int, contextLength: Int
    ) throws -> InferencePlan {
        let prompt = tokenizer.encode(r.prompt)
        guard !prompt.isEmpty else { throw Refusal.badRequest("prompt is empty") }
        return try make(
            r.model, r.sampling, maxTokens: r.sampling.maxTokens, prompt: prompt,
            stopTokens: tokenizer.eosID.map { [$0] } ?? [], routingText: prompt,
            limit: maxTokensLimit, contextLength: contextLength, defaultMaxTokens: 16)
    }

    static func make(
        _ model: String, _ f: SamplingFields, maxTokens: Int?, prompt: [Int32], stopTokens: Set<Int32>, routingText: [Int32],
        limit: Int, contextLength: Int, defaultMaxTokens: Int
    ) throws -> InferencePlan {
        if let n = f.n, n != 1 { throw Refusal.badRequest("n must be 1 (one choice per request)") }
        let maxTokens = maxTokens ?? defaultMaxTokens
        guard (1...limit).contains(maxTokens) else {
            throw Refusal.badRequest("max_tokens must be 1...\(limit) (control.max_completion_tokens)")
        }
        guard prompt.count < contextLength else {
            throw Refusal.badRequest("the prompt has \(prompt.count) tokens; the model's context is \(contextLength)")
        }
        let temperature = f.temperature ?? 1
        guard (0...2).contains(temperature) else { throw Refusal.badRequest("temperature must be 0...2") }
        let topP = f.topP ?? 1
        guard topP > 0, topP <= 1 else { throw Refusal.badRequest("top_p must be in (0, 1]") }
        let stops = f.stop?.values ?? []
        guard stops.count <= 4, stops.allSatisfy({ !$0.isEmpty }) else {
            throw Refusal.badRequest("stop takes at most 4 non-empty sequences")
        }
        return InferencePlan(
            model: model, prompt: prompt, maxTokens: min(maxTokens, contextLength - prompt.count),
            sampling: SamplingParameters(temperature: temperature, topP: topP, seed: f.seed ?? UInt64.random(in: 0...UInt64.max)),
            stopTokens: stopTokens, stopSequences: stops, routingText: routingText, stream: f.stream ?? false,
            includeUsageInStream: f.streamOptions?.includeUsage ?? false)
    }
}
