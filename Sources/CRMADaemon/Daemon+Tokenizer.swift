import CRMAModel
import CRMAWire

extension Daemon {
    /// `GET /tokenizer_info`: the model's special tokens, chat template and context.
    public func tokenizerInfo() -> TokenizerInfo {
        let t = lm.tokenizer
        func text(_ id: Int32?) -> String? { id.map { t.decode([$0]) } }
        return TokenizerInfo(
            eosToken: text(t.eosID), bosToken: text(t.bosID), padToken: text(t.eosID), chatTemplate: t.chatTemplate,
            modelMaxLength: lm.model.config.contextLength, vocabularySize: t.vocabularySize,
            tokenizerClass: "crma-\(t.kind.rawValue)")
    }

    /// `POST /tokenize`: a text, or chat messages in the model's chat format, to ids.
    public func tokenize(_ r: TokenizeRequest) throws -> TokenizeResponse {
        let context = lm.model.config.contextLength
        switch (r.prompt, r.messages) {
        case (let text?, nil):
            return TokenizeResponse(tokens: lm.tokenizer.encode(text, addBOS: (r.addSpecialTokens ?? true) ? nil : false), maxModelLength: context)
        case (nil, let messages?):
            let prompt = Generator(lm).chatPrompt(messages.map { ChatMessage(role: $0.role, content: $0.content) }).prompt
            return TokenizeResponse(tokens: prompt, maxModelLength: context)
        default:
            throw InferencePlan.Refusal.badRequest("send either prompt (a text) or messages (a chat)")
        }
    }

    /// `POST /detokenize`: ids to text.
    public func detokenize(_ r: DetokenizeRequest) throws -> DetokenizeResponse {
        let size = lm.tokenizer.vocabularySize
        if let bad = r.tokens.first(where: { $0 < 0 || Int($0) >= size }) {
            throw InferencePlan.Refusal.badRequest("token id \(bad) is outside the vocabulary (0..<\(size))")
        }
        return DetokenizeResponse(prompt: lm.tokenizer.decode(r.tokens))
    }

    /// A text completion's `logprobs`, each token named by its text.
    public func completionLogprobs(_ c: TextCompletion, plan: InferencePlan) -> CompletionLogprobs? {
        LogprobsRendering.completion(c, prompt: plan.prompt, echo: plan.echo != nil, tokenizer: lm.tokenizer)
    }

    /// A chat completion's `logprobs`.
    public func chatLogprobs(_ c: TextCompletion) -> ChatLogprobs? {
        LogprobsRendering.chat(c, tokenizer: lm.tokenizer)
    }
}
