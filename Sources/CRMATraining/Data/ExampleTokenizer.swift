import CRMAModel

/// Turns examples into token ids with loss masks: plain text learns every token; chats learn only the
/// assistant turns (content and end-of-turn marker); prompt/completion learns the completion and a
/// final end-of-sequence token. Every document starts with the beginning-of-sequence token when the
/// tokenizer adds one (Gemma, Llama 2), as generation's prompts do, so the model learns in the context it
/// is served in; it is never a target (a document's first token predicts nothing before it).
public struct ExampleTokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let template: ChatTemplate

    public init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
        template = tokenizer.chatFormat
    }

    public func tokenize(_ example: TrainingExample) -> TokenizedDocument {
        switch example {
        case .text(let s):
            return TokenizedDocument(tokens: tokenizer.encode(s))
        case .promptCompletion(let p, let c):
            let pt = tokenizer.encode(p)
            var ct = tokenizer.encode(c, addBOS: false)
            if let eos = tokenizer.eosID { ct.append(eos) }
            return TokenizedDocument(
                tokens: pt + ct,
                lossMask: [Bool](repeating: false, count: pt.count) + [Bool](repeating: true, count: ct.count))
        case .chat(let messages):
            var tokens = tokenizer.beginning(), mask = [Bool](repeating: false, count: tokens.count)
            func append(_ text: Substring, learned: Bool) {
                let t = tokenizer.encode(String(text), addBOS: false)
                tokens += t
                mask += [Bool](repeating: learned, count: t.count)
            }
            // Render message by message so each token knows whose turn it belongs to.
            for i in messages.indices {
                let before = template.render(Array(messages[..<i]), addGenerationPrompt: false)
                let through = template.render(Array(messages[...i]), addGenerationPrompt: false)
                let header = template.render(Array(messages[..<i]), addGenerationPrompt: true)
                if messages[i].role == "assistant", header.hasPrefix(before), through.hasPrefix(header) {
                    // The turn header is not learned; the content and the end-of-turn marker are.
                    append(header.dropFirst(before.count), learned: false)
                    append(through.dropFirst(header.count), learned: true)
                } else {
                    append(through.dropFirst(before.count), learned: false)
                }
            }
            return TokenizedDocument(tokens: tokens, lossMask: mask)
        }
    }
}
