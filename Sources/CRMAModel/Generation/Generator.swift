import CRMANumerics

/// What a streaming callback wants next.
public enum GenerationControl: Sendable { case more, stop }

/// Why generation ended.
public enum GenerationStop: String, Sendable, Codable {
    case endOfTurn = "end_of_turn", maxTokens = "max_tokens", contextFull = "context_full", requested
}

/// Autoregressive generation with a KV cache: the prompt is processed in one forward pass, then one
/// token per step. Under `adapters` (a domain's LoRA and the CRMA substrate) the cache holds the keys and
/// values they produce, so it lives for one request.
///
/// - Important: adapter sets keep per-call scratch state: one generation at a time per set.
public struct Generator {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let adapters: (any LlamaAdapterHooks)?

    public init(_ lm: LanguageModel, adapters: (any LlamaAdapterHooks)? = nil) {
        model = lm.model
        tokenizer = lm.tokenizer
        self.adapters = adapters
    }

    /// Generates up to `maxTokens` after `prompt` (ids). `onToken` receives each new id and may stop.
    public func generate(
        prompt: [Int32], maxTokens: Int, sampling: SamplingParameters = .greedy, stopTokens: Set<Int32> = [],
        onToken: (Int32) -> GenerationControl = { _ in .more }
    ) -> (tokens: [Int32], stop: GenerationStop) {
        generate(
            prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopTokens: stopTokens, constraint: nil, logits: nil,
            onToken: onToken)
    }

    /// ``generate(prompt:maxTokens:sampling:stopTokens:onToken:)``, where each token is one `constraint`
    /// allows (generation ends when it allows none), and `onLogits` also sees the model's logits each new id
    /// was chosen from, the stop token's that ended generation included (a client summing an echoed prompt's
    /// log-probabilities counts on one entry per generated position).
    public func generate(
        prompt: [Int32], maxTokens: Int, sampling: SamplingParameters = .greedy, stopTokens: Set<Int32> = [],
        constraint: JSONConstraint?, logits onLogits: ((Int32, UnsafePointer<Float>) -> Void)?,
        onToken: (Int32) -> GenerationControl
    ) -> (tokens: [Int32], stop: GenerationStop) {
        precondition(!prompt.isEmpty, "generation needs at least one prompt token")
        let c = model.config
        let capacity = min(c.contextLength, prompt.count + maxTokens)
        guard prompt.count < capacity else { return ([], .contextFull) }
        let cache = KVCache(config: c, capacity: capacity)
        let ws = ForwardWorkspace()
        var sampler = Sampler(sampling)
        let logits = FloatBuffer(count: c.vocabSize)
        var out: [Int32] = []
        var h = model.hiddenStates(
            tokens: prompt, batch: 1, seqLen: prompt.count, cache: cache, workspace: ws, adapters: adapters)
        var last = h.pointer + (prompt.count - 1) * c.hiddenSize
        while true {
            model.logits(hidden: last, rows: 1, into: logits.pointer)
            let next: Int32
            if let constraint {
                guard let allowed = sampler.sample(logits.pointer, vocab: c.vocabSize, allowed: constraint.allows) else {
                    return (out, .endOfTurn)
                }
                next = allowed
            } else {
                next = sampler.sample(logits.pointer, vocab: c.vocabSize)
            }
            onLogits?(next, logits.pointer)
            if stopTokens.contains(next) { return (out, .endOfTurn) }
            constraint?.advance(next)
            out.append(next)
            if onToken(next) == .stop { return (out, .requested) }
            if out.count >= maxTokens { return (out, .maxTokens) }
            if cache.length >= capacity { return (out, .contextFull) }
            h = model.hiddenStates(tokens: [next], batch: 1, seqLen: 1, cache: cache, workspace: ws, adapters: adapters)
            last = h.pointer
        }
    }

    /// The prompt ids for `messages` in the model's chat format (ending with the assistant's turn
    /// opening) and the tokens that end the assistant's turn.
    public func chatPrompt(_ messages: [ChatMessage]) -> (prompt: [Int32], stopTokens: Set<Int32>) {
        let template = tokenizer.chatFormat
        let prompt = tokenizer.encode(template.render(messages), addBOS: template.format == .llama2 ? false : nil)
        var stops = Set(template.stopStrings.compactMap { tokenizer.id(of: $0) })
        if let eos = tokenizer.eosID { stops.insert(eos) }
        return (prompt, stops)
    }

    /// Chat: renders `messages` with the model's template, generates the assistant's reply, and returns its text.
    public func chat(_ messages: [ChatMessage], maxTokens: Int = 128, sampling: SamplingParameters = .greedy) -> String
    {
        let (prompt, stops) = chatPrompt(messages)
        let (ids, _) = generate(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopTokens: stops)
        return tokenizer.decode(ids, skipSpecial: true)
    }
}
