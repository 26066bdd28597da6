import CRMATestSupport
import Foundation
import Testing
@testable import CRMAAdapters
@testable import CRMAModel
import CRMANumerics

/// The inference forward pass (KV cache, its own attention) applies adapters exactly as the training pass
/// does, so a domain's answer can be generated one token per step instead of recomputing the prefix.
@Suite struct AdaptedInferenceTests {
    /// A LoRA on every projection and a CRMA substrate whose gate is large enough to matter.
    func adapters(_ lm: LanguageModel) -> AdapterSet {
        let lora = LoRA(
            name: "d", config: LoRAConfig(rank: 4, alpha: 8, targets: Projection.allCases), model: lm.model.config,
            seed: 1, trainable: false)
        AdapterGradCheck.randomize(lora.parameters, seed: 2, scale: 0.3)
        var cfg = CRMAConfig()
        cfg.gateInit = -1
        let crma = CRMA(config: cfg, model: lm.model, seed: 4)
        AdapterGradCheck.randomize(crma.parameters, seed: 5, scale: 0.05)
        return AdapterSet(loras: [lora], crma: crma)
    }

    func maxDifference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        (0..<n).reduce(0) { max($0, abs(a[$1] - b[$1])) }
    }

    @Test(arguments: ["llama-f32", "mistral-f16"])
    func cachedStepsUnderAdaptersEqualTheTrainingPass(_ name: String) throws {
        let lm = try TinyModels.load(name)
        let c = lm.model.config
        let set = adapters(lm)
        let tokens: [Int32] = (0..<12).map { Int32(($0 * 37 + 5) % c.vocabSize) }
        let pass = LlamaTrainingPass(model: lm.model, hooks: set)
        _ = pass.forward(TrainingBatch.unscored(tokens))
        let reference = FloatBuffer(count: tokens.count * c.hiddenSize)
        reference.pointer.update(from: pass.finalHidden, count: reference.count)
        _ = pass.forward(TrainingBatch.unscored(tokens))  // the pass itself is deterministic
        #expect(maxDifference(reference.pointer, pass.finalHidden, reference.count) == 0)
        // The adapters matter: the base model's states are far from these.
        let base = lm.model.hiddenStates(tokens: tokens, batch: 1, seqLen: tokens.count)
        #expect(maxDifference(reference.pointer, base.pointer, reference.count) > 1e-2)

        let whole = lm.model.hiddenStates(tokens: tokens, batch: 1, seqLen: tokens.count, adapters: set)
        #expect(maxDifference(reference.pointer, whole.pointer, reference.count) < 1e-4)
        // Prompt of 7, then one token per step through the cache.
        let cache = KVCache(config: c, capacity: tokens.count)
        let prompt = lm.model.hiddenStates(tokens: Array(tokens[..<7]), batch: 1, seqLen: 7, cache: cache, adapters: set)
        #expect(maxDifference(reference.pointer, prompt.pointer, 7 * c.hiddenSize) < 1e-4)
        for t in 7..<tokens.count {
            let h = lm.model.hiddenStates(tokens: [tokens[t]], batch: 1, seqLen: 1, cache: cache, adapters: set)
            #expect(maxDifference(reference.pointer + t * c.hiddenSize, h.pointer, c.hiddenSize) < 1e-4)
        }
    }

    /// Greedy generation under adapters: the cached path picks the tokens recomputing the prefix picks.
    @Test func generationUnderAdaptersMatchesRecomputingThePrefix() throws {
        let lm = try TinyModels.load("llama-f32")
        let set = adapters(lm)
        let prompt: [Int32] = [1, 17, 42, 99, 3]
        let cached = Generator(lm, adapters: set).generate(prompt: prompt, maxTokens: 8).tokens
        let pass = LlamaTrainingPass(model: lm.model, hooks: set)
        let vocab = lm.model.config.vocabSize
        var tokens = prompt
        let logits = FloatBuffer(count: vocab)
        for _ in 0..<8 {
            _ = pass.forward(TrainingBatch.unscored(tokens))
            lm.model.logits(
                hidden: pass.finalHidden + (tokens.count - 1) * lm.model.config.hiddenSize, rows: 1, into: logits.pointer)
            var best = 0
            for i in 1..<vocab where logits[i] > logits[best] { best = i }
            tokens.append(Int32(best))
        }
        #expect(cached == Array(tokens[prompt.count...]))
        #expect(cached != Generator(lm).generate(prompt: prompt, maxTokens: 8).tokens)
    }
}
