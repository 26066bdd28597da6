import Foundation
import Testing
@testable import CRMAModel
@testable import CRMANumerics

/// Finite-difference checks of the remaining ops on their own: training attention (with a packed
/// segment), the rotary embedding's backward (its inverse rotation is its adjoint), and the head's
/// cross-entropy. Same float32 method as GradientCheckTests.
@Suite struct OpGradientTests {
    let config = LlamaConfig(
        hiddenSize: 32, layers: 1, heads: 4, kvHeads: 2, ffnSize: 48, vocabSize: 40, tiedEmbeddings: true)

    func batch(T: Int) -> TrainingBatch {
        var b = TrainingBatch.causal([(0...T).map { Int32($0 % 7) }, (0...T).map { Int32(($0 * 3) % 7) }], seqLen: T)
        for t in 3..<T {
            b.positions[T + t] = Int32(t - 3)
            b.segmentStarts[T + t] = 3
        }
        return b
    }

    @Test func attentionBackward() {
        let c = config, T = 9
        let b = batch(T: T)
        let n = b.batch * T
        let qkv0 = GradCheck.directions(n * c.qkvSize, count: 1, seed: 21)[0]
        let r = GradCheck.directions(n * c.qSize, count: 1, seed: 22)[0]
        let scratch = AttentionScratch()
        func attention(_ q: [Float]) -> [Float] {
            var qkv = q
            var out = [Float](repeating: 0, count: n * c.qSize)
            TrainingAttention.forward(config: c, layer: 0, batch: b, qkv: &qkv, out: &out, scratch: scratch)
            return out
        }
        func loss(_ q: [Float]) -> Double { zip(attention(q), r).reduce(0) { $0 + Double($1.0 * $1.1) } }
        var qkv = qkv0
        var dOut = r
        var dQKV = [Float](repeating: 0, count: n * c.qkvSize)
        TrainingAttention.backward(config: c, layer: 0, batch: b, qkv: &qkv, dOut: &dOut, dQKV: &dQKV, scratch: scratch)
        for u in GradCheck.directions(n * c.qkvSize, count: 3, seed: 23) {
            let eps: Float = 1e-3
            let numeric =
                (loss(zip(qkv0, u).map { $0 + eps * $1 }) - loss(zip(qkv0, u).map { $0 - eps * $1 })) / Double(2 * eps)
            let analytic = zip(dQKV, u).reduce(0) { $0 + Double($1.0 * $1.1) }
            #expect(GradCheck.relativeError(analytic, numeric) < 1e-2, "analytic \(analytic) numeric \(numeric)")
        }
        // Packed documents do not see each other: changing the keys and values of the second row's first
        // document (positions 0–2) leaves its second document's outputs (3…) as they were.
        var changed = qkv0
        for t in 0..<3 { for i in c.qSize..<c.qkvSize { changed[(T + t) * c.qkvSize + i] += 1 } }
        let before = attention(qkv0), after = attention(changed)
        #expect(Array(before[((T + 3) * c.qSize)...]) == Array(after[((T + 3) * c.qSize)...]))
        #expect(before[(T + 1) * c.qSize] != after[(T + 1) * c.qSize])
    }

    @Test func rotaryBackwardIsTheAdjointRotation() {
        let rope = RotaryEmbedding(headDim: 8, theta: 10_000, maxPositions: 32)
        let rows = 5, stride = 16, heads = 2
        let positions: [Int32] = [0, 3, 7, 1, 30]
        let x = GradCheck.directions(rows * stride, count: 1, seed: 31)[0]
        let g = GradCheck.directions(rows * stride, count: 1, seed: 32)[0]
        var rx = x, rg = g
        rope.apply(&rx, rows: rows, stride: stride, heads: heads, positions: positions, inverse: false)
        rope.apply(&rg, rows: rows, stride: stride, heads: heads, positions: positions, inverse: true)
        // ⟨R x, g⟩ = ⟨x, Rᵀ g⟩ over the rotated columns.
        var lhs = 0.0, rhs = 0.0
        for r in 0..<rows {
            for i in 0..<(heads * 8) {
                lhs += Double(rx[r * stride + i] * g[r * stride + i])
                rhs += Double(x[r * stride + i] * rg[r * stride + i])
            }
        }
        #expect(abs(lhs - rhs) < 1e-4)
    }

    @Test func crossEntropyHeadBackward() throws {
        let lm = try LanguageModel.load(path: Fixtures.path("tiny/mistral-f16"))
        let d = lm.model.config.hiddenSize, rows = 6
        let targets: [Int32] = [3, -1, 17, 250, 0, 9]
        let h0 = GradCheck.directions(rows * d, count: 1, seed: 41)[0]
        let ws = ForwardWorkspace()
        func loss(_ h: [Float]) -> Double {
            LossHead.crossEntropy(model: lm.model, hidden: h, targets: targets, gradient: nil, workspace: ws).mean
        }
        var grad = [Float](repeating: 0, count: rows * d)
        _ = LossHead.crossEntropy(model: lm.model, hidden: h0, targets: targets, gradient: &grad, workspace: ws)
        #expect(grad[d..<(2 * d)].allSatisfy { $0 == 0 })  // no loss at position 1
        for u in GradCheck.directions(rows * d, count: 3, seed: 42) {
            let eps: Float = 1e-3
            let numeric =
                (loss(zip(h0, u).map { $0 + eps * $1 }) - loss(zip(h0, u).map { $0 - eps * $1 })) / Double(2 * eps)
            let analytic = zip(grad, u).reduce(0) { $0 + Double($1.0 * $1.1) }
            #expect(GradCheck.relativeError(analytic, numeric) < 1e-2, "analytic \(analytic) numeric \(numeric)")
        }
    }
}
