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
    /// The prompt's text, put before the completion (`echo`); nil when not echoed.
    public var echo: String?
    /// How many most likely tokens to report at each position, when log-probabilities are asked for (the
    /// prompt's too when echoed); nil when not.
    public var logprobs: Int?
    /// The documents decoding is constrained to (`response_format`); nil for free text.
    public var schema: JSONSchema?

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
                "\(field) is not supported by crmad: it answers in text or JSON (response_format), without tool calls")
        }
        for m in r.messages where !["system", "user", "assistant"].contains(m.role) {
            throw Refusal.badRequest("message role \"\(m.role)\" is not system, user or assistant")
        }
        if r.topLogprobs != nil, r.logprobs != true { throw Refusal.badRequest("top_logprobs needs logprobs: true") }
        if let k = r.topLogprobs, !(0...maxLogprobs).contains(k) {
            throw Refusal.badRequest("top_logprobs must be 0...\(maxLogprobs)")
        }
        let (prompt, stops) = generator.chatPrompt(r.messages.map { ChatMessage(role: $0.role, content: $0.content) })
        let words = r.messages.filter { $0.role == "user" }.map(\.content).joined(separator: "\n")
        var plan = try make(
            r.model, r.sampling, maxTokens: r.maxCompletionTokens ?? r.sampling.maxTokens, prompt: prompt,
            stopTokens: stops, routingText: tokenizer.encode(words), limit: maxTokensLimit,
            contextLength: contextLength, defaultMaxTokens: maxTokensLimit,
            logprobs: r.logprobs == true ? (r.topLogprobs ?? 0) : nil)
        plan.schema = try schema(r.responseFormat)
        return plan
    }

    /// The schema a `response_format` constrains decoding to (nil: text).
    static func schema(_ format: ChatCompletionRequest.ResponseFormat?) throws -> JSONSchema? {
        switch format?.type {
        case nil, "text": return nil
        case "json_object": return .anyObject
        case "json_schema":
            guard let document = format?.jsonSchema?.schema else {
                throw Refusal.badRequest("response_format json_schema needs json_schema.schema")
            }
            do {
                return try JSONSchema.parse(document)
            } catch let e as JSONSchema.Unsupported {
                throw Refusal.badRequest("response_format.json_schema.schema: \(e.keyword): \(e.reason)")
            }
        case let other?:
            throw Refusal.badRequest("response_format type \"\(other)\" is not text, json_object or json_schema")
        }
    }

    /// Most prompts one completion request may carry, and most likely tokens `logprobs` may ask for (OpenAI's limit).
    public static let maxPrompts = 64
    /// Most stop sequences (OpenAI allows 4; evaluation harnesses add the end-of-text string to a task's own).
    public static let maxStopSequences = 16
    public static let maxLogprobs = 5

    /// A text completion of each prompt as it is (no template), ending at the end-of-text token: one plan per
    /// prompt, answered in order.
    public static func completions(
        _ r: CompletionRequest, tokenizer: Tokenizer, maxTokensLimit: Int, contextLength: Int
    ) throws -> [InferencePlan] {
        guard r.prompts.count <= maxPrompts else {
            throw Refusal.badRequest("at most \(maxPrompts) prompts per request (got \(r.prompts.count))")
        }
        if r.prompts.count > 1 {
            if r.sampling.stream == true { throw Refusal.badRequest("stream takes one prompt; send the others in their own requests") }
            if r.model == InferenceModel.routed {
                throw Refusal.badRequest(
                    "model \"crma\" routes each request to one domain: send one prompt per request, or name the model (crma:<domain> or base)")
            }
        }
        if let k = r.logprobs, !(0...maxLogprobs).contains(k) {
            throw Refusal.badRequest("logprobs must be 0...\(maxLogprobs) (the most likely tokens reported at each position)")
        }
        let echo = r.echo ?? false
        return try r.prompts.enumerated().map { index, p in
            let label = r.prompts.count > 1 ? "prompt \(index)" : "prompt"
            let ids: [Int32], text: String
            switch p {
            case .text(let t):
                ids = tokenizer.encode(t)
                text = t
            case .tokens(let given):
                if let bad = given.first(where: { $0 < 0 || Int($0) >= tokenizer.vocabularySize }) {
                    throw Refusal.badRequest("\(label) has token id \(bad), outside the vocabulary (0..<\(tokenizer.vocabularySize))")
                }
                ids = given
                text = tokenizer.decode(given)
            }
            guard !ids.isEmpty else { throw Refusal.badRequest("\(label) is empty") }
            var plan = try make(
                r.model, r.sampling, maxTokens: r.sampling.maxTokens, prompt: ids,
                stopTokens: tokenizer.eosID.map { [$0] } ?? [], routingText: ids,
                limit: maxTokensLimit, contextLength: contextLength, defaultMaxTokens: 16, logprobs: r.logprobs,
                echoes: echo)
            plan.echo = echo ? text : nil
            return plan
        }
    }

    /// The checks every request shares. `echoes`: the prompt is echoed (a text completion), which also lets
    /// `max_tokens` be 0 (score the prompt only).
    static func make(
        _ model: String, _ f: SamplingFields, maxTokens: Int?, prompt: [Int32], stopTokens: Set<Int32>, routingText: [Int32],
        limit: Int, contextLength: Int, defaultMaxTokens: Int, logprobs: Int? = nil, echoes: Bool = false
    ) throws -> InferencePlan {
        if let n = f.n, n != 1 { throw Refusal.badRequest("n must be 1 (one choice per request)") }
        let maxTokens = maxTokens ?? defaultMaxTokens
        guard ((echoes ? 0 : 1)...limit).contains(maxTokens) else {
            throw Refusal.badRequest(
                "max_tokens must be \(echoes ? 0 : 1)...\(limit) (control.max_completion_tokens"
                    + (echoes ? ")" : "; 0, to score the prompt only, with echo)"))
        }
        if f.stream == true, echoes || logprobs != nil {
            throw Refusal.badRequest("\(echoes ? "echo and logprobs are" : "logprobs are") not streamed; send stream: false")
        }
        guard prompt.count < contextLength || (maxTokens == 0 && prompt.count == contextLength) else {
            throw Refusal.badRequest("the prompt has \(prompt.count) tokens; the model's context is \(contextLength)")
        }
        let temperature = f.temperature ?? 1
        guard (0...2).contains(temperature) else { throw Refusal.badRequest("temperature must be 0...2") }
        let topP = f.topP ?? 1
        guard topP > 0, topP <= 1 else { throw Refusal.badRequest("top_p must be in (0, 1]") }
        let stops = f.stop?.values ?? []
        guard stops.count <= maxStopSequences, stops.allSatisfy({ !$0.isEmpty }) else {
            throw Refusal.badRequest("stop takes at most \(maxStopSequences) non-empty sequences")
        }
        return InferencePlan(
            model: model, prompt: prompt, maxTokens: min(maxTokens, contextLength - prompt.count),
            sampling: SamplingParameters(temperature: temperature, topP: topP, seed: f.seed ?? UInt64.random(in: 0...UInt64.max)),
            stopTokens: stopTokens, stopSequences: stops, routingText: routingText, stream: f.stream ?? false,
            includeUsageInStream: f.streamOptions?.includeUsage ?? false, echo: nil, logprobs: logprobs, schema: nil)
    }
}
