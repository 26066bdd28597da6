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

    /// A token's log-probability as the inference API reports it is the training loss's own number, under
    /// adapters, with the most likely tokens at its position in order; the tokens a greedy decoder picks are
    /// their position's top token, and their log-probability its.
    @Test(arguments: ["llama-f32", "mistral-f16"])
    func tokenLogProbsAreTheLossesOwnNumbers(_ name: String) throws {
        let lm = try TinyModels.load(name)
        let set = adapters(lm)
        let vocab = lm.model.config.vocabSize
        let tokens: [Int32] = (0..<10).map { Int32(($0 * 29 + 3) % vocab) }
        let pass = LlamaTrainingPass(model: lm.model, hooks: set)
        let scored = pass.tokenLogProbs(tokens, top: 3)
        var b = TrainingBatch.unscored(Array(tokens.dropLast()))
        for i in 0..<(tokens.count - 1) { b.targets[i] = tokens[i + 1] }
        _ = pass.forward(b)
        #expect(scored.count == tokens.count - 1 && scored.map(\.id) == Array(tokens.dropFirst()))
        for (i, s) in scored.enumerated() {
            #expect(abs(s.logprob + pass.lastTokenLosses[i]) < 1e-6, "position \(i)")
            #expect(s.top.count == 3 && s.top[0].logprob >= s.top[1].logprob && s.top[1].logprob >= s.top[2].logprob)
            #expect(s.logprob <= s.top[0].logprob)
        }
        // Reference: log-softmax in Double of the pass's own logits.
        let logits = FloatBuffer(count: vocab)
        lm.model.logits(hidden: pass.finalHidden + 4 * lm.model.config.hiddenSize, rows: 1, into: logits.pointer)
        let row = (0..<vocab).map { Double(logits[$0]) }
        let lse = log(row.map { exp($0 - row.max()!) }.reduce(0, +)) + row.max()!
        let order = (0..<vocab).sorted { row[$0] > row[$1] }
        #expect(scored[4].top.map(\.id) == order.prefix(3).map(Int32.init))
        #expect(abs(scored[4].logprob - (row[Int(tokens[5])] - lse)) < 1e-4)

        let c = Generator(lm, adapters: set).complete(prompt: Array(tokens.prefix(4)), maxTokens: 5, logprobs: 2)
        let generated = try #require(c.logprobs)
        #expect(generated.count == c.completionTokens)
        for g in generated { #expect(g.top[0].id == g.id && g.top[0].logprob == g.logprob) }
    }
}
