import CRMAAdapters
import CRMAModel
import CRMATraining
import CRMAWire
import Foundation

/// Generation and scoring under adapters, for the control API's /v1/generate and /v1/score. The
/// adapters (LoRA + CRMA) live in the training pass, so generation recomputes the prefix each token —
/// fine for the short answers the API serves (its length is capped).
public enum ModelQueries {
    /// Greedy chat completion of `prompt` under `adapters`.
    public static func generate(_ lm: LanguageModel, adapters: AdapterSet, prompt: String, maxTokens: Int) -> GenerateResponse {
        let g = Generator(lm)
        let (ids, stops) = g.chatPrompt([ChatMessage(role: "user", content: prompt)])
        let pass = LlamaTrainingPass(model: lm.model, hooks: adapters)
        let vocab = lm.model.config.vocabSize
        var logits = [Float](repeating: 0, count: vocab)
        var tokens = ids
        var out: [Int32] = []
        var stop = "max_tokens"
        while out.count < maxTokens {
            if tokens.count >= lm.model.config.contextLength {
                stop = "context_full"
                break
            }
            _ = pass.forward(TrainingBatch.unscored(tokens))
            logits.withUnsafeMutableBufferPointer {
                lm.model.logits(hidden: pass.finalHidden + (tokens.count - 1) * lm.model.config.hiddenSize, rows: 1, into: $0.baseAddress!)
            }
            var best = 0
            for i in 1..<vocab where logits[i] > logits[best] { best = i }
            let next = Int32(best)
            if stops.contains(next) {
                stop = "end_of_turn"
                break
            }
            out.append(next)
            tokens.append(next)
        }
        return GenerateResponse(text: lm.tokenizer.decode(out, skipSpecial: true), tokens: out.count, stop: stop)
    }

    /// Mean loss of `text` under `adapters` (the first `maxTokens` tokens).
    public static func score(_ lm: LanguageModel, adapters: AdapterSet, text: String, maxTokens: Int) -> ScoreResponse? {
        let ids = Array(lm.tokenizer.encode(text).prefix(min(maxTokens, lm.model.config.contextLength + 1)))
        guard ids.count >= 2 else { return nil }
        let pass = LlamaTrainingPass(model: lm.model, hooks: adapters)
        let loss = pass.forward(TrainingBatch.causal([ids], seqLen: ids.count - 1))
        return ScoreResponse(loss: loss, perplexity: exp(loss), tokens: ids.count - 1)
    }
}
