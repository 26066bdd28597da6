/// A finished text completion.
public struct TextCompletion: Sendable, Equatable {
    public var text: String
    public var promptTokens: Int
    public var completionTokens: Int
    /// OpenAI's `finish_reason`: "stop" (end of turn or a stop sequence) or "length" (the token limit or
    /// the context is full); "cancelled" when `onText` stopped it.
    public var finishReason: String
    /// Each generated token's log-probability with the most likely tokens at its position, when asked for;
    /// the stop token that ended generation is the last entry (not counted in `completionTokens`).
    public var logprobs: [TokenLogProb]?
    /// The prompt's tokens after the first, scored, when asked for (an echoed prompt's log-probabilities).
    public var promptLogprobs: [TokenLogProb]?

    public init(
        text: String, promptTokens: Int, completionTokens: Int, finishReason: String, logprobs: [TokenLogProb]? = nil,
        promptLogprobs: [TokenLogProb]? = nil
    ) {
        self.text = text
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.finishReason = finishReason
        self.logprobs = logprobs
        self.promptLogprobs = promptLogprobs
    }
}

extension Generator {
    /// Generates text after `prompt` until a stop token, a stop sequence (cut from the text), `maxTokens`
    /// or the context's end. `onText` receives the text as it becomes safe to show (``CompletionText``)
    /// and may stop generation (a client that went away). With `logprobs`, each generated token's
    /// log-probability and that many most likely tokens at its position are kept.
    public func complete(
        prompt: [Int32], maxTokens: Int, sampling: SamplingParameters = .greedy, stopTokens: Set<Int32> = [],
        stopSequences: [String] = [], logprobs: Int? = nil, constraint: JSONConstraint? = nil,
        onText: (String) -> GenerationControl = { _ in .more }
    ) -> TextCompletion {
        var text = CompletionText(stopSequences: stopSequences)
        var all = ""
        var cancelled = false
        var scored: [TokenLogProb] = []
        let vocab = model.config.vocabSize
        let (ids, stop) = generate(
            prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopTokens: stopTokens, constraint: constraint,
            logits: logprobs.map { k in { scored.append(TokenLogProb($0, logits: $1, vocab: vocab, top: k)) } }
        ) {
            let delta = text.append($0, tokenizer: tokenizer)
            all += delta
            if !delta.isEmpty, onText(delta) == .stop {
                cancelled = true
                return .stop
            }
            return text.stopped ? .stop : .more
        }
        let rest = text.finish(tokenizer: tokenizer)
        all += rest
        if !rest.isEmpty, !cancelled { _ = onText(rest) }
        let reason: String =
            switch stop {
            case .endOfTurn: "stop"
            case .requested: cancelled ? "cancelled" : "stop"
            case .maxTokens, .contextFull: text.stopped ? "stop" : "length"
            }
        return TextCompletion(
            text: all, promptTokens: prompt.count, completionTokens: ids.count, finishReason: reason,
            logprobs: logprobs == nil ? nil : scored)
    }
}
