import CRMATestSupport
import Foundation
import Testing
@testable import CRMAAdapters
@testable import CRMAModel
import CRMANumerics

/// Finite-difference checks of adapter parameter gradients through the whole tiny model (2 layers).
/// Float32 throughout: central differences along random directions over all trainable parameters,
/// relative tolerance 1e-2 (see the model's GradientCheckTests for why). Parameters are randomized
/// only mildly: with large random adapters the loss is so curved that central differences at any
/// float32-usable step disagree with the exact gradient by several percent.
enum AdapterGradCheck {
    static func batch(vocab: Int) -> TrainingBatch {
        let T = 10
        let ids: [Int32] = (0..<(2 * T + 1)).map { Int32(($0 * 29 + 7) % vocab) }
        var b = TrainingBatch.causal([Array(ids[0...T]), Array(ids[T...])], seqLen: T)
        for t in 4..<T {
            b.positions[T + t] = Int32(t - 4)
            b.segmentStarts[T + t] = 4
        }
        return b
    }

    /// Makes every parameter non-trivial so all gradient paths carry signal.
    static func randomize(_ params: [Parameter], seed: UInt64, scale: Float) {
        var rng = SeededRandom(seed: seed)
        for p in params where p.group == .proj {
            for i in 0..<p.count { p.value[i] += scale * Float(rng.uniform(-1, 1)) }
        }
    }

    static func check(model: LlamaModel, adapters: AdapterSet, seed: UInt64) -> [Double] {
        let pass = LlamaTrainingPass(model: model, hooks: adapters)
        let b = batch(vocab: model.config.vocabSize)
        let params = adapters.trainableParameters
        adapters.zeroGradients()
        pass.forwardBackward(b)
        return DirectionalCheck.errors(values: params.map(\.value), grads: params.map(\.grad), seed: seed) {
            pass.forward(b)
        }
    }
}

@Suite struct AdapterGradientTests {
    /// On Llama (Mistral), both Gemma families and both Qwen families, each projection's LoRA on its own: it changes the loss
    /// (a LoRA left out of the forward pass would not), it receives a gradient (one left out of the backward
    /// pass would get none), and that gradient matches finite differences — through the family's own kernels
    /// (QK-norm, sandwich norms, GeGLU, sliding windows, soft-capped scores and logits, q/k/v biases).
    @Test(arguments: ["mistral-f16", "gemma2-f32", "gemma3-bf16", "qwen2-f32", "qwen3-bf16"], Projection.allCases)
    func loraOnEachProjection(_ model: String, _ projection: Projection) throws {
        let lm = try TinyModels.load(model)
        let lora = LoRA(
            name: "d", config: LoRAConfig(rank: 4, alpha: 8, targets: [projection]), model: lm.model.config, seed: 1)
        AdapterGradCheck.randomize(lora.parameters, seed: 2, scale: 0.3)
        let b = AdapterGradCheck.batch(vocab: lm.model.config.vocabSize)
        let base = LlamaTrainingPass(model: lm.model, hooks: nil).forward(b)
        let adapted = LlamaTrainingPass(model: lm.model, hooks: AdapterSet(loras: [lora])).forward(b)
        #expect(abs(adapted - base) > 1e-4, "the \(projection) LoRA does not change the loss")
        let errors = AdapterGradCheck.check(model: lm.model, adapters: AdapterSet(loras: [lora]), seed: 3)
        let norm = lora.parameters.map { p in (0..<p.count).reduce(0) { $0 + Double(p.grad[$1] * p.grad[$1]) } }.reduce(0, +)
        #expect(norm > 0, "the \(projection) LoRA gets no gradient")
        // One projection's LoRA moves the loss less than all seven together, so the same float32 rounding of
        // the central differences is a larger share of it (Gemma 3's o measured 0.0100 in one direction).
        #expect(errors.allSatisfy { $0 < 1.5e-2 }, "\(errors)")
    }

    @Test(arguments: ["mistral-f16", "gemma2-f32", "gemma3-bf16", "qwen2-f32", "qwen3-bf16"], ["lowrank", "raw", "identity", "tied"])
    func crmaVariant(_ model: String, _ variant: String) throws {
        let lm = try TinyModels.load(model)
        var cfg = CRMAConfig()
        cfg.gateInit = -1  // a gate large enough for the adapter's effect to stand well above float32 noise
        switch variant {
        case "raw": cfg.read = .raw
        case "identity": cfg.mixing = .identity
        case "tied": cfg.variant = .tied
        default: break
        }
        let crma = CRMA(config: cfg, model: lm.model, seed: 4)
        AdapterGradCheck.randomize(crma.parameters, seed: 5, scale: 0.05)
        for p in crma.logMix { for i in 0..<p.count { p.value[i] += Float(i % 3) * 0.3 } }
        // CRMA trains together with a frozen LoRA (earlier domain) and a trainable one (new domain).
        let frozen = LoRA(
            name: "old", config: LoRAConfig(rank: 2, targets: [.q, .v]), model: lm.model.config, seed: 6,
            trainable: false)
        AdapterGradCheck.randomize(frozen.parameters, seed: 7, scale: 0.1)
        let fresh = LoRA(
            name: "new", config: LoRAConfig(rank: 2, targets: [.k, .o, .down]), model: lm.model.config, seed: 8)
        AdapterGradCheck.randomize(fresh.parameters, seed: 9, scale: 0.1)
        let errors = AdapterGradCheck.check(
            model: lm.model, adapters: AdapterSet(loras: [frozen, fresh], crma: crma), seed: 10)
        #expect(errors.allSatisfy { $0 < 1e-2 }, "\(errors)")
    }

    /// log_mix and log_alpha carry gradients orders of magnitude smaller than the projections', so a
    /// random direction over every parameter cannot see an error in them: each is checked on its own.
    @Test(arguments: ["log_mix", "log_alpha"])
    func crmaMixingAndGateGradientsOnTheirOwn(_ which: String) throws {
        let lm = try TinyModels.load("mistral-f16")
        var cfg = CRMAConfig()
        cfg.gateInit = -1
        let crma = CRMA(config: cfg, model: lm.model, seed: 4)
        AdapterGradCheck.randomize(crma.parameters, seed: 5, scale: 0.05)
        for p in crma.logMix { for i in 0..<p.count { p.value[i] += Float(i % 3) * 0.3 } }
        let adapters = AdapterSet(crma: crma)
        let pass = LlamaTrainingPass(model: lm.model, hooks: adapters)
        let b = AdapterGradCheck.batch(vocab: lm.model.config.vocabSize)
        adapters.zeroGradients()
        pass.forwardBackward(b)
        let params = which == "log_mix" ? crma.logMix : crma.logAlpha
        let errors = DirectionalCheck.errors(
            values: params.map(\.value), grads: params.map(\.grad), seed: 11, eps: 3e-2
        ) {
            pass.forward(b)
        }
        #expect(errors.allSatisfy { $0 < 1e-2 }, "\(errors)")
    }

    /// The gate's log is floored after every step, so g = exp(log_alpha) never underflows to 0.
    @Test func theGateLogIsFlooredSoTheGateNeverUnderflows() throws {
        let lm = try TinyModels.load("llama-f32")
        let crma = CRMA(config: CRMAConfig(), model: lm.model, seed: 1)
        for p in crma.logAlpha { p.value[0] = -500 }
        crma.afterOptimizerStep()
        #expect(crma.logAlpha.allSatisfy { $0.value[0] == CRMA.logAlphaFloor })
        #expect((0..<crma.layers).allSatisfy { crma.gate($0) > 0 && crma.gate($0).isNormal })
    }

    @Test func crmaIsAnExactIdentityAtInitialisation() throws {
        let lm = try TinyModels.load("llama-f32")
        let b = AdapterGradCheck.batch(vocab: lm.model.config.vocabSize)
        let base = LlamaTrainingPass(model: lm.model, hooks: nil).forward(b)
        let crma = CRMA(config: CRMAConfig(), model: lm.model, seed: 1)
        let lora = LoRA(name: "d", config: LoRAConfig(), model: lm.model.config, seed: 2)
        let adapted = LlamaTrainingPass(model: lm.model, hooks: AdapterSet(loras: [lora], crma: crma)).forward(b)
        #expect(adapted == base)
    }

    @Test func readProjectionIsOrthonormalAndSpansWDownsLeadingDirections() throws {
        let lm = try TinyModels.load("llama-f32")
        let crma = CRMA(config: CRMAConfig(), model: lm.model, seed: 1)
        let c = lm.model.config, n = 4
        let R = crma.read[0].value
        for i in 0..<n {
            for j in 0..<n {
                let dotv = (0..<c.hiddenSize).reduce(0.0) { $0 + Double(R[$1 * n + i] * R[$1 * n + j]) }
                #expect(abs(dotv - (i == j ? 1 : 0)) < 1e-5)
            }
        }
        // ‖W_downᵀ r‖ for the leading direction beats that of any random unit vector.
        let w = lm.model.weights.layers[0].down
        func energy(_ v: [Float]) -> Double {
            (0..<c.ffnSize).reduce(0.0) { acc, f in
                let s = (0..<c.hiddenSize).reduce(0.0) { $0 + Double(w[$1 * c.ffnSize + f] * v[$1]) }
                return acc + s * s
            }
        }
        let lead = (0..<c.hiddenSize).map { R[$0 * n] }
        var rng = SeededRandom(seed: 3)
        for _ in 0..<5 {
            var v = (0..<c.hiddenSize).map { _ in Float(rng.normal()) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / norm }
            #expect(energy(lead) > energy(v))
        }
    }
}
