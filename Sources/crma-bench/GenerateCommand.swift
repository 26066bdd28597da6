import ArgumentParser
import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMANumerics
import Foundation

/// Generation speed under adapters: the KV cache the inference API uses against recomputing the whole
/// prefix for every token (what `/v1/generate` did before).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Time generation under a domain's adapters: KV cache vs recomputing the prefix per token.",
        discussion: """
            A prompt of --context tokens, then --tokens greedy tokens under LoRA r=8 on q,k,v,o plus a CRMA \
            substrate (random, or a domain's adapters from --adapters FILE --domain D). Prints ms per generated \
            token both ways and their ratio (the prompt's own pass is reported apart), and checks both ways \
            pick the same tokens.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Prompt length in tokens.")
    var context = 200

    @Option(help: "Tokens generated (the recomputing path generates at most 16 of them: it is the slow one).")
    var tokens = 64

    /// Random adapters when --adapters is absent.
    @OptionGroup var learned: AdapterOptions

    func run() throws {
        let lm = try common.load()
        let c = lm.model.config
        let set: AdapterSet
        if let loaded = try learned.load(lm) {
            set = loaded
        } else {
            let lora = LoRA(name: "d", config: LoRAConfig(rank: 8, alpha: 16, targets: [.q, .k, .v, .o]), model: c, seed: 1, trainable: false)
            for p in lora.parameters { for i in 0..<p.count { p.value[i] = Float((i * 7919) % 201 - 100) * 1e-4 } }
            set = AdapterSet(loras: [lora], crma: CRMA(config: CRMAConfig(), model: lm.model, seed: 2))
        }
        let sentence = lm.tokenizer.encode(
            "The committee reviewed the quarterly report, the audit findings and the budget for the next year. ", addBOS: false)
        let prompt = [lm.tokenizer.bosID ?? 0] + (0..<context).map { sentence[$0 % sentence.count] }.prefix(context - 1)

        // KV cache: one pass over the prompt, then one token per step.
        let g = Generator(lm, adapters: set)
        var firstAt = 0.0
        let t0 = Measure.now()
        var n = 0
        let cached = g.generate(prompt: Array(prompt), maxTokens: tokens) { _ in
            n += 1
            if n == 1 { firstAt = Measure.now() }
            return .more
        }.tokens
        let total = Measure.now() - t0
        let cachedPerToken = (total - (firstAt - t0)) / Double(max(cached.count - 1, 1))

        // Recomputing: the training pass over the whole prefix for every token.
        let recomputed = min(16, tokens)
        let pass = LlamaTrainingPass(model: lm.model, hooks: set)
        let logits = FloatBuffer(count: c.vocabSize)
        var ids = Array(prompt)
        var slow: [Int32] = []
        var greedy = Sampler(.greedy)
        let t1 = Measure.now()
        for _ in 0..<recomputed {
            _ = pass.forward(TrainingBatch.unscored(ids))
            lm.model.logits(hidden: pass.finalHidden + (ids.count - 1) * c.hiddenSize, rows: 1, into: logits.pointer)
            let next = greedy.sample(logits.pointer, vocab: c.vocabSize)
            slow.append(next)
            ids.append(next)
        }
        let slowPerToken = (Measure.now() - t1) / Double(recomputed)
        // Where a cached decoding step spends its time (one token after the prompt, repeated).
        let clock = PhaseClock()
        let cache = KVCache(config: c, capacity: prompt.count + 33)
        let ws = ForwardWorkspace()
        _ = lm.model.hiddenStates(tokens: Array(prompt), batch: 1, seqLen: prompt.count, cache: cache, workspace: ws, adapters: set)
        let probe = 32
        for i in 0..<probe {
            let h = lm.model.hiddenStates(
                tokens: [cached[i % cached.count]], batch: 1, seqLen: 1, cache: cache, workspace: ws, adapters: set, clock: clock)
            clock.enter("head")
            lm.model.logits(hidden: h.pointer, rows: 1, into: logits.pointer)
            clock.stop()
        }
        let phases = clock.seconds.mapValues { $0 / Double(probe) * 1000 }
        Output.print(
            [
                "decode_phase_ms": phases,
                "model": common.model, "context": context, "base": lm.model.precision.rawValue,
                "prompt_seconds": firstAt - t0, "cached_ms_per_token": cachedPerToken * 1000,
                "recompute_ms_per_token": slowPerToken * 1000, "speedup": slowPerToken / cachedPerToken,
                "same_tokens": Array(cached.prefix(recomputed)) == slow, "tokens": cached.count,
            ], json: common.json)
    }
}
