import Foundation
import Testing
@testable import CRMAModel
@testable import CRMANumerics

/// Finite-difference checks of the backward pass. Everything runs in Float32, so each check uses
/// central differences along random directions (the directional derivative sums many components,
/// which keeps the float32 rounding of the loss, ~1e-6 relative, far below the signal) and a relative
/// tolerance of 1e-2; a wrong kernel gives errors of order 1.
enum GradCheck {
    static func directions(_ n: Int, count: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 } }
    }

    /// Relative error between an analytic and a numeric directional derivative.
    static func relativeError(_ analytic: Double, _ numeric: Double) -> Double {
        abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-6)
    }
}

@Suite struct KernelGradientTests {
    @Test func rmsNormBackward() {
        let rows = 3, dim = 37
        let x = GradCheck.directions(rows * dim, count: 1, seed: 1)[0].map { $0 * 2 }
        let w = GradCheck.directions(dim, count: 1, seed: 2)[0].map { 1 + $0 * 0.5 }
        let r = GradCheck.directions(rows * dim, count: 1, seed: 3)[0]
        func loss(_ x: [Float]) -> Double {
            var out = [Float](repeating: 0, count: rows * dim)
            Kernels.rmsNorm(x, weight: w, rows: rows, dim: dim, eps: 1e-5, into: &out)
            return zip(out, r).reduce(0) { $0 + Double($1.0 * $1.1) }
        }
        var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
        Kernels.rmsNorm(x, weight: w, rows: rows, dim: dim, eps: 1e-5, into: &out, rstd: &rstd)
        var dx = [Float](repeating: 0, count: rows * dim)
        BackwardKernels.rmsNorm(x: x, weight: w, rstd: rstd, dOut: r, rows: rows, dim: dim, dx: &dx)
        for u in GradCheck.directions(rows * dim, count: 3, seed: 4) {
            let eps: Float = 1e-3
            let plus = zip(x, u).map { $0 + eps * $1 }, minus = zip(x, u).map { $0 - eps * $1 }
            let numeric = (loss(plus) - loss(minus)) / Double(2 * eps)
            let analytic = zip(dx, u).reduce(0) { $0 + Double($1.0 * $1.1) }
            #expect(GradCheck.relativeError(analytic, numeric) < 1e-2)
        }
    }

    @Test func swiGLUBackward() {
        let rows = 2, F = 21
        let gu = GradCheck.directions(rows * 2 * F, count: 1, seed: 5)[0].map { $0 * 3 }
        let r = GradCheck.directions(rows * F, count: 1, seed: 6)[0]
        func loss(_ gu: [Float]) -> Double {
            var out = [Float](repeating: 0, count: rows * F)
            Kernels.swiGLU(gu, rows: rows, ffn: F, into: &out)
            return zip(out, r).reduce(0) { $0 + Double($1.0 * $1.1) }
        }
        var dgu = [Float](repeating: 0, count: rows * 2 * F)
        BackwardKernels.swiGLU(gu: gu, dOut: r, rows: rows, ffn: F, dGU: &dgu)
        for u in GradCheck.directions(rows * 2 * F, count: 3, seed: 7) {
            let eps: Float = 1e-3
            let numeric =
                (loss(zip(gu, u).map { $0 + eps * $1 }) - loss(zip(gu, u).map { $0 - eps * $1 })) / Double(2 * eps)
            let analytic = zip(dgu, u).reduce(0) { $0 + Double($1.0 * $1.1) }
            #expect(GradCheck.relativeError(analytic, numeric) < 1e-2)
        }
    }
}

@Suite struct ModelGradientTests {
    /// d loss / d embedding-table, checked along random directions, on the tiny untied Mistral model
    /// (2 layers, GQA 8/2) with two packed documents in one row so the segment mask is exercised.
    @Test func wholeModelBackwardMatchesFiniteDifferences() throws {
        let lm = try LanguageModel.load(path: Fixtures.path("tiny/mistral-f16"))
        let c = lm.model.config
        let T = 12
        let ids: [Int32] = (0..<(2 * T)).map { Int32(($0 * 37 + 11) % c.vocabSize) }
        var batch = TrainingBatch.causal([Array(ids[0...T]), Array(ids[T..<(2 * T)]) + [5]], seqLen: T)
        // Row 1 packs two documents: positions restart at 5.
        for t in 5..<T {
            batch.positions[T + t] = Int32(t - 5)
            batch.segmentStarts[T + t] = 5
        }
        batch.targets[3] = -1
        let pass = LlamaTrainingPass(model: lm.model, hooks: nil)
        let loss0 = pass.forward(batch)
        let lossB = pass.backward()
        #expect(abs(loss0 - lossB) < 1e-6)
        // Analytic gradient w.r.t. each table row = sum over positions holding that token.
        let d = c.hiddenSize
        var gradTable = [Float](repeating: 0, count: c.vocabSize * d)
        for (i, t) in batch.tokens.enumerated() {
            for j in 0..<d { gradTable[Int(t) * d + j] += pass.inputGradient[i * d + j] }
        }
        let table = lm.model.weights.embedding
        let original = table.array
        for u in GradCheck.directions(c.vocabSize * d, count: 3, seed: 9) {
            let eps: Float = 2e-3  // 1e-2 is already in the nonlinear range here (6% error)
            for i in 0..<table.count { table[i] = original[i] + eps * u[i] }
            let plus = pass.forward(batch)
            for i in 0..<table.count { table[i] = original[i] - eps * u[i] }
            let minus = pass.forward(batch)
            for i in 0..<table.count { table[i] = original[i] }
            let numeric = (plus - minus) / Double(2 * eps)
            let analytic = zip(gradTable, u).reduce(0) { $0 + Double($1.0 * $1.1) }
            #expect(GradCheck.relativeError(analytic, numeric) < 1e-2, "analytic \(analytic) numeric \(numeric)")
        }
    }

    @Test func trainingForwardLossEqualsScoringLoss() throws {
        let lm = try LanguageModel.load(path: Fixtures.path("tiny/llama-f32"))
        let ids: [Int32] = (0..<17).map { Int32(($0 * 13 + 3) % lm.model.config.vocabSize) }
        let loss = LlamaTrainingPass(model: lm.model, hooks: nil).forward(.causal([ids], seqLen: 16))
        let lp = Scorer(lm).logProbabilities(input: Array(ids[..<16]), targets: Array(ids[1...]), offset: 0)
        let reference = -lp.reduce(0.0) { $0 + Double($1) } / 16
        #expect(abs(loss - reference) < 1e-5)
    }
}
