import CRMAModel
import CRMANumerics
import CRMATestSupport
import Foundation
import Testing
@testable import CRMAAdapters

/// Training on the quantized base: LoRA on every projection plus CRMA get the gradients they get on the
/// fp32 model of the same file (the input-gradient GEMMs sum panel by panel, so equal up to float
/// rounding), and CRMA initialises from the dequantized weights exactly as from the fp32 ones.
@Suite(.serialized) struct QuantizedBaseTrainingTests {
    @Test func loraAndCRMAGradientsMatchTheFP32Model() throws {
        let path = BF16AdapterTests.path
        let fp32 = try LanguageModel.load(path: path, precision: .fp32).model
        let quantized = try LanguageModel.load(path: path, precision: .quantized).model
        func gradients(_ model: LlamaModel) -> (loss: Double, grads: [[Float]]) {
            let lora = LoRA(
                name: "d", config: LoRAConfig(rank: 4, alpha: 8, targets: Projection.allCases), model: model.config,
                seed: 1)
            for p in lora.parameters { for i in 0..<p.count { p.value[i] += 0.01 * Float((i * 37 % 17) - 8) / 8 } }
            let adapters = AdapterSet(loras: [lora], crma: CRMA(config: CRMAConfig(), model: model, seed: 3))
            adapters.zeroGradients()
            let ids: [Int32] = (0..<33).map { Int32(($0 * 7919 + 11) % model.config.vocabSize) }
            let loss = LlamaTrainingPass(model: model, hooks: adapters).forwardBackward(
                TrainingBatch.causal([ids], seqLen: 32))
            return (loss, adapters.trainableParameters.map { $0.grad.array })
        }
        let a = gradients(fp32), b = gradients(quantized)
        #expect(abs(a.loss - b.loss) < 1e-5)
        #expect(a.grads.count == b.grads.count)
        for (x, y) in zip(a.grads, b.grads) {
            let scale = x.map(abs).max()!
            let worst = zip(x, y).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-3 * scale + 1e-9, "max |Δ| \(worst) against max |g| \(scale)")
        }
    }

    /// Recomputing the gate|up pre-activations in the backward pass (what a quantized base does by
    /// default) gives the gradients of keeping them, bit for bit: the same GEMM and adapters on the same
    /// input. LoRA on gate and up too, so the recomputation runs their adapters.
    @Test(arguments: ["qwen2-f32", "gemma3-bf16"])
    func recomputingGateUpGivesTheGradientsOfKeepingThem(_ name: String) throws {
        let model = try TinyModels.load(name).model
        #expect(LlamaTrainingPass(model: model, hooks: nil).keepsGateUp, "an fp32 base keeps them")
        func gradients(keep: Bool) -> (Double, [[Float]]) {
            let lora = LoRA(
                name: "d", config: LoRAConfig(rank: 4, alpha: 8, targets: Projection.allCases), model: model.config,
                seed: 1)
            AdapterGradCheck.randomize(lora.parameters, seed: 2, scale: 0.3)
            let adapters = AdapterSet(loras: [lora], crma: CRMA(config: CRMAConfig(), model: model, seed: 3))
            let pass = LlamaTrainingPass(model: model, hooks: adapters)
            pass.keepsGateUp = keep
            adapters.zeroGradients()
            let loss = pass.forwardBackward(AdapterGradCheck.batch(vocab: model.config.vocabSize))
            return (loss, adapters.trainableParameters.map { $0.grad.array })
        }
        let kept = gradients(keep: true), recomputed = gradients(keep: false)
        #expect(kept.0 == recomputed.0)
        #expect(kept.1 == recomputed.1)
    }

    @Test func aQuantizedBaseRecomputesByDefault() throws {
        let quantized = try LanguageModel.load(path: BF16AdapterTests.path, precision: .quantized).model
        #expect(!LlamaTrainingPass(model: quantized, hooks: nil).keepsGateUp)
    }
}
