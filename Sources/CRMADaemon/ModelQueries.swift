import CRMAAdapters
import CRMAModel
import CRMATraining
import CRMAWire
import Foundation

/// Generation and scoring under adapters, for the control API's /v1/generate and /v1/score.
public enum ModelQueries {
    /// Greedy chat completion of `prompt` under `adapters` (KV cache under the adapters).
    public static func generate(_ lm: LanguageModel, adapters: AdapterSet, prompt: String, maxTokens: Int) -> GenerateResponse {
        let g = Generator(lm, adapters: adapters)
        let (ids, stops) = g.chatPrompt([ChatMessage(role: "user", content: prompt)])
        let (out, stop) = g.generate(prompt: ids, maxTokens: maxTokens, stopTokens: stops)
        return GenerateResponse(text: lm.tokenizer.decode(out, skipSpecial: true), tokens: out.count, stop: stop.rawValue)
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
