import Foundation
import Testing
@testable import CRMAModel
@testable import CRMANumerics

/// The real Gemma 3 270M (`make model-gemma`) against Fixtures/forward/gemma3-logits.json, written by
/// scripts/fixtures/make_gemma_golden.py: an independent NumPy float64 Gemma forward pass over the same GGUF
/// weights (itself checked against transformers), with prompt ids from transformers' tokenizer for the GGUF.
/// One prompt is longer than the model's 512-token sliding window. The same layout holds the Qwen 2 reference
/// (Fixtures/forward/qwen2-logits.json, ``QwenForwardTests``).
struct RealLogitsFixture: Decodable {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let first_position: Int
        let positions: [LogitsFixture.Position]
    }
    let columns: [Int]
    let cases: [Case]

    static func load(_ file: String = "forward/gemma3-logits.json") throws -> RealLogitsFixture {
        try JSONDecoder().decode(
            RealLogitsFixture.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent(file)))
    }

    /// The largest |Δlogit| of `lm` against the reference at every checked position (each position's argmax
    /// is checked too).
    func worstLogitError(_ lm: LanguageModel) -> Double {
        let V = lm.model.config.vocabSize
        var worst: Double = 0
        for c in cases {
            let logits = lm.model.logits(tokens: c.ids)
            for (i, p) in c.positions.enumerated() {
                let t = c.first_position + i
                worst = max(
                    worst,
                    p.check(
                        logits.pointer + t * V, vocabulary: V, columns: columns,
                        "position \(t) of a \(c.ids.count)-token prompt"))
            }
        }
        return worst
    }
}

/// The largest difference between the logits of `ids` decoded one token at a time with a KV cache (after
/// the first `prefix` tokens in one pass) and the logits of the full forward pass.
func worstCachedDecodingError(_ lm: LanguageModel, ids: [Int32], prefix: Int) -> Float {
    let V = lm.model.config.vocabSize
    let full = lm.model.logits(tokens: ids)
    let cache = KVCache(config: lm.model.config, capacity: ids.count)
    _ = lm.model.logits(tokens: Array(ids[..<prefix]), cache: cache)
    var worst: Float = 0
    for t in prefix..<ids.count {
        let step = lm.model.logits(tokens: [ids[t]], cache: cache)
        for i in 0..<V { worst = max(worst, abs(step[i] - full[t * V + i])) }
    }
    return worst
}

@Suite(.serialized) struct GemmaForwardTests {
    @Test func configComesFromTheGGUFMetadata() throws {
        let c = try RealModel.gemma().model.config
        #expect(c.family.name == "gemma3")
        #expect((c.hiddenSize, c.layers, c.heads, c.kvHeads, c.headDim, c.ffnSize) == (640, 18, 4, 1, 256, 2048))
        #expect(c.vocabSize == 262_144 && c.tiedEmbeddings && c.rmsNormEps == 1e-6)
        #expect(c.ropeTheta == 1_000_000 && c.family.slidingRopeTheta == 10_000 && c.family.slidingWindow == 512)
        #expect((0..<18).filter { !c.family.isSliding(layer: $0) } == [5, 11, 17])
        #expect(c.attentionScale == 1.0 / 16 && c.family.embeddingScale == Float(640).squareRoot())
        #expect(c.family.qkNorm && c.family.sandwichNorms && c.family.activation == .geGLU)
        #expect(c.family.attentionSoftcap == nil && c.family.finalSoftcap == nil)
    }

    @Test func logitsMatchTheReferenceAtEveryCheckedPosition() throws {
        let worst = try RealLogitsFixture.load().worstLogitError(try RealModel.gemma())
        print("Gemma 3: max |Δlogit| vs reference: \(worst)")
        #expect(worst <= 2e-3)
    }

    @Test func promptIdsMatchTransformersTokenizer() throws {
        let lm = try RealModel.gemma()
        for c in try RealLogitsFixture.load().cases {
            #expect(lm.tokenizer.encode(c.text) == c.ids, "\(c.text.prefix(60).debugDescription)")
        }
    }

    @Test func kvCacheDecodingMatchesTheFullForwardPassPastTheWindow() throws {
        let lm = try RealModel.gemma()
        let long = try RealLogitsFixture.load().cases.first { $0.ids.count > 512 }!
        let ids = Array(long.ids.prefix(520))
        let worst = worstCachedDecodingError(lm, ids: ids, prefix: 505)
        #expect(worst <= 2e-3)
    }
}
