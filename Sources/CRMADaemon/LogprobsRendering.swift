import CRMAModel
import CRMAWire

/// OpenAI's shapes of a completion's log-probabilities, each token named by its text. Pure.
public enum LogprobsRendering {
    /// `choices[i].logprobs` of a text completion (nil when none were asked for): with `echo`, the prompt's
    /// tokens first — the first without a log-probability, nothing predicts it — then the generated ones,
    /// the end-of-text token that stopped generation included, as vLLM reports it (lm-evaluation-harness
    /// drops the last entry as the one generated token: without it, it would drop the prompt's last).
    public static func completion(_ c: TextCompletion, prompt: [Int32], echo: Bool, tokenizer: Tokenizer)
        -> CompletionLogprobs?
    {
        guard let generated = c.logprobs else { return nil }
        var out = CompletionLogprobs(tokens: [], tokenLogprobs: [], topLogprobs: [], textOffset: [])
        var offset = 0
        func add(_ id: Int32, _ scored: TokenLogProb?) {
            let text = tokenizer.decode([id])
            out.tokens.append(text)
            out.textOffset.append(offset)
            offset += text.unicodeScalars.count
            out.tokenLogprobs.append(scored?.logprob)
            out.topLogprobs.append(scored.map { alternatives($0.top, tokenizer: tokenizer) })
        }
        if echo {
            let scores = c.promptLogprobs ?? []
            for (i, id) in prompt.enumerated() { add(id, i > 0 && i - 1 < scores.count ? scores[i - 1] : nil) }
        }
        for g in generated { add(g.id, g) }
        return out
    }

    /// `choices[i].logprobs` of a chat completion (nil when none were asked for): the reply's tokens, without
    /// the end-of-turn token, as OpenAI reports them.
    public static func chat(_ c: TextCompletion, tokenizer: Tokenizer) -> ChatLogprobs? {
        guard let generated = c.logprobs?.prefix(c.completionTokens) else { return nil }
        func bytes(_ id: Int32) -> [Int] { tokenizer.bytes([id]).map(Int.init) }
        return ChatLogprobs(
            content: generated.map { g in
                ChatLogprobs.Token(
                    token: tokenizer.decode([g.id]), logprob: g.logprob, bytes: bytes(g.id),
                    topLogprobs: g.top.map { .init(token: tokenizer.decode([$0.id]), logprob: $0.logprob, bytes: bytes($0.id)) })
            })
    }

    /// The most likely tokens by text. Two tokens with one text keep the likelier's value (OpenAI's map has
    /// one entry per text).
    static func alternatives(_ top: [TokenLogProb.Alternative], tokenizer: Tokenizer) -> [String: Double] {
        var byText: [String: Double] = [:]
        for a in top {
            let text = tokenizer.decode([a.id])
            if byText[text] == nil { byText[text] = a.logprob }
        }
        return byText
    }
}
