import Foundation
import Testing
@testable import CRMAModel
@testable import CRMANumerics

/// The real Qwen2.5-Coder-0.5B (`make model-qwen`; run by `make interop`) against
/// Fixtures/forward/qwen2-logits.json, written by scripts/fixtures/make_qwen2_golden.py: an independent NumPy
/// float64 forward pass over the same GGUF weights, with q/k/v biases and Hugging Face's row order.
@Suite(.serialized, .enabled(if: RealModel.hasQwen, "needs models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf (make model-qwen)"))
struct QwenForwardTests {
    @Test func configComesFromTheGGUFMetadata() throws {
        let c = try RealModel.qwen().model.config
        #expect(c.family == .qwen2 && c.family.qkvBias)
        #expect((c.hiddenSize, c.layers, c.heads, c.kvHeads, c.headDim, c.ffnSize) == (896, 24, 14, 2, 64, 4864))
        #expect(c.vocabSize == 151_936 && !c.tiedEmbeddings && c.ropeTheta == 1_000_000)
    }

    @Test func logitsMatchTheReferenceAtEveryPosition() throws {
        let lm = try RealModel.qwen()
        let fx = try JSONDecoder().decode(
            GemmaLogitsFixture.self,
            from: Data(contentsOf: Fixtures.root.appendingPathComponent("forward/qwen2-logits.json")))
        let V = lm.model.config.vocabSize
        var worst: Double = 0
        for c in fx.cases {
            let logits = lm.model.logits(tokens: c.ids)
            for (i, p) in c.positions.enumerated() {
                let t = c.first_position + i
                worst = max(worst, p.check(logits.pointer + t * V, vocabulary: V, columns: fx.columns, "position \(t) of \(c.text.debugDescription)"))
            }
        }
        print("Qwen 2: max |Δlogit| vs reference: \(worst)")
        #expect(worst <= 2e-4)
    }

    @Test func kvCacheDecodingMatchesTheFullForwardPass() throws {
        let lm = try RealModel.qwen()
        let ids: [Int32] = [750, 15801, 39345, 1445, 982, 262, 421, 308, 366, 220, 17, 510, 286, 470, 308]
        let V = lm.model.config.vocabSize
        let full = lm.model.logits(tokens: ids)
        let cache = KVCache(config: lm.model.config, capacity: ids.count)
        _ = lm.model.logits(tokens: Array(ids[..<8]), cache: cache)
        var worst: Float = 0
        for t in 8..<ids.count {
            let step = lm.model.logits(tokens: [ids[t]], cache: cache)
            for i in 0..<V { worst = max(worst, abs(step[i] - full[t * V + i])) }
        }
        #expect(worst <= 2e-3)
    }
}
