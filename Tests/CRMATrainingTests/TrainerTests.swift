import CRMATestSupport
import Foundation
import Testing
@testable import CRMAAdapters
@testable import CRMAModel
import CRMANumerics
@testable import CRMATraining

@Suite struct TrainerTests {
    /// `lr` scales the projection learning rate; `structural` is log_mix's (crma.md's default 5e-3).
    func makeTrainer(
        _ lm: LanguageModel, crma crmaConfig: CRMAConfig? = CRMAConfig(), lr: Float = 3e-2, structural: Float = 5e-3,
        steps: Int,
        seed: UInt64 = 1
    ) -> Trainer {
        let lora = LoRA(
            name: "d", config: LoRAConfig(rank: 8, alpha: 16, targets: Projection.allCases), model: lm.model.config,
            seed: seed)
        let crma = crmaConfig.map { CRMA(config: $0, model: lm.model, seed: seed) }
        var opt = OptimizerConfig()
        opt.learningRates = [.proj: lr, .structural: structural, .gate: lr * 2]
        return Trainer(model: lm.model, adapters: AdapterSet(loras: [lora], crma: crma), config: opt, totalSteps: steps)
    }

    func batch(_ lm: LanguageModel) -> TrainingBatch {
        let rows = SequencePacker(seqLen: 32, padToken: 0).pack(TinyModels.corpus(lm))
        return SequencePacker.batch(rows)
    }

    @Test func aTinyModelOverfitsASmallCorpus() throws {
        let lm = try TinyModels.load("llama-f32")
        let trainer = makeTrainer(lm, steps: 150)
        let b = batch(lm)
        let first = try trainer.step([b]).loss
        var last = first
        for _ in 1..<150 { last = try trainer.step([b]).loss }
        #expect(last < first / 2, "loss \(first) → \(last)")
    }

    /// With crma.md's structural learning rate. (With 60× that, log_mix runs into its ±4 clamp, where
    /// K = 20 Sinkhorn rounds leave row sums off by up to 1.3e-3 and ‖M‖₂ up to 1 + 1.1e-5.)
    @Test func mixingStaysDoublyStochasticWithUnitNormFor200Steps() throws {
        let lm = try TinyModels.load("llama-f32")
        let trainer = makeTrainer(lm, steps: 200)
        let b = batch(lm)
        var moved = 0.0
        let initial = trainer.adapters.crma!.mixingMatrix(layer: 0)
        for _ in 0..<200 {
            let r = try trainer.step([b])
            let h = try #require(r.crmaHealth)
            #expect(h.maxSpectralExcess <= 1e-5)
            #expect(h.maxMarginError <= 1e-4)
        }
        let final = trainer.adapters.crma!.mixingMatrix(layer: 0)
        moved = zip(initial, final).map { abs($0 - $1) }.max()!
        #expect(moved > 1e-3, "the mixing logits must actually train")
    }

    @Test func sameSeedAndDataGiveBitIdenticalWeights() throws {
        let lm = try TinyModels.load("llama-f32")
        func run() throws -> [[Float]] {
            let t = makeTrainer(lm, steps: 10, seed: 7)
            for _ in 0..<10 { _ = try t.step([batch(lm)]) }
            return t.optimizer.parameters.map(\.value.array)
        }
        #expect(try run() == run())
    }

    @Test func nonFiniteStepsAreSkippedThenStopTheRun() throws {
        let lm = try TinyModels.load("llama-f32")
        let trainer = makeTrainer(lm, steps: 10)
        let b = batch(lm)
        _ = try trainer.step([b])
        let crma = trainer.adapters.crma!
        crma.write[0].value[0] = .nan
        let before = trainer.optimizer.parameters.map(\.value.array)
        for i in 1..<5 {
            let r = try trainer.step([b])
            #expect(r.skipped)
            #expect(trainer.skippedSteps == i)
        }
        #expect(throws: TrainingError.self) { try trainer.step([b]) }
        // Nothing was updated by the failed steps.
        let after = trainer.optimizer.parameters.map(\.value.array)
        #expect(!before.isEmpty && before.map(\.count) == after.map(\.count) && before.allSatisfy { !$0.isEmpty })
        for (x, y) in zip(before, after) { #expect(zip(x, y).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }) }
    }

    @Test func clippingIsSeparatePerFamilyAndReportsBothNorms() throws {
        let lm = try TinyModels.load("llama-f32")
        let trainer = makeTrainer(lm, steps: 5)
        let r = try trainer.step([batch(lm)])
        let lora = try #require(r.clip["lora"]), crma = try #require(r.clip["crma"])
        #expect(lora.after <= 1 + 1e-6 && crma.after <= 1 + 1e-6)
        #expect(lora.before != crma.before)
    }

    /// Two micro-batches of one row each accumulate to the gradient of one batch of both rows (the rows
    /// carry equally many loss tokens, so the two means agree).
    @Test func gradientAccumulationMatchesOneLargeBatch() throws {
        let lm = try TinyModels.load("llama-f32")
        let V = Int32(lm.model.config.vocabSize)
        let r1 = (0..<17).map { Int32($0 * 7 + 1) % V }, r2 = (0..<17).map { Int32($0 * 11 + 2) % V }
        let whole = TrainingBatch.causal([r1, r2], seqLen: 16)
        let parts = [TrainingBatch.causal([r1], seqLen: 16), TrainingBatch.causal([r2], seqLen: 16)]
        let a = makeTrainer(lm, steps: 3), b = makeTrainer(lm, steps: 3)
        let la = try a.step([whole]).loss, lb = try b.step(parts).loss
        #expect(abs(la - lb) < 1e-5)
        // Compare the (clipped) gradients: Adam's first step divides by |g|, which magnifies rounding
        // differences of near-zero gradients.
        var worst: Float = 0, scale: Float = 0
        for (p, q) in zip(a.optimizer.parameters, b.optimizer.parameters) {
            for i in 0..<p.count {
                worst = max(worst, abs(p.grad[i] - q.grad[i]))
                scale = max(scale, abs(p.grad[i]))
            }
        }
        #expect(worst <= 1e-4 * scale, "max |Δgrad| \(worst) of max |grad| \(scale)")
    }
}
