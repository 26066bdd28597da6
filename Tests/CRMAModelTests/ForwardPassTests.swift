import Foundation
import Testing
@testable import CRMAModel
@testable import CRMANumerics

/// Fixtures/forward/logits.json comes from scripts/fixtures/make_forward_golden.py: an independent
/// NumPy float64 implementation of the Llama forward pass over the same GGUF weights (dequantized by
/// the `gguf` package), with prompt ids from Hugging Face `tokenizers`.
struct LogitsFixture: Decodable {
    struct Position: Decodable {
        let argmax: Int
        let top_ids: [Int]
        let top_logits: [Double]
        let column_logits: [Double]

        /// The largest |Δ| between `row` (a position's logits) and these reference logits; expects the same argmax.
        func check(_ row: UnsafePointer<Float>, vocabulary V: Int, columns: [Int], _ at: String) -> Double {
            var worst = 0.0
            for (id, ref) in zip(top_ids, top_logits) { worst = max(worst, abs(Double(row[id]) - ref)) }
            for (id, ref) in zip(columns, column_logits) { worst = max(worst, abs(Double(row[id]) - ref)) }
            var best = 0
            for i in 0..<V where row[i] > row[best] { best = i }
            #expect(best == argmax, "argmax differs at \(at)")
            return worst
        }
    }
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let positions: [Position]
    }
    let columns: [Int]
    let cases: [Case]

    static func load() throws -> LogitsFixture {
        try JSONDecoder().decode(
            LogitsFixture.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("forward/logits.json")))
    }
}

@Suite(.serialized) struct ForwardPassTests {
    @Test func logitsMatchTheReferenceAtEveryPosition() throws {
        let lm = try RealModel.load()
        let fx = try LogitsFixture.load()
        let V = lm.model.config.vocabSize
        var worst: Double = 0
        for c in fx.cases {
            let logits = lm.model.logits(tokens: c.ids)
            for (t, p) in c.positions.enumerated() {
                worst = max(worst, p.check(logits.pointer + t * V, vocabulary: V, columns: fx.columns, "position \(t) of \(c.text.debugDescription)"))
            }
        }
        print("max |Δlogit| vs reference: \(worst)")
        #expect(worst <= 2e-3)
    }

    @Test func promptIdsMatchHuggingFaceTokenizers() throws {
        let lm = try RealModel.load()
        for c in try LogitsFixture.load().cases {
            #expect(lm.tokenizer.encode(c.text) == c.ids)
        }
    }

    @Test func kvCacheDecodingMatchesTheFullForwardPass() throws {
        let lm = try RealModel.load()
        let ids = try LogitsFixture.load().cases[1].ids
        let V = lm.model.config.vocabSize
        let full = lm.model.logits(tokens: ids)
        let cache = KVCache(config: lm.model.config, capacity: 64)
        var worst: Float = 0
        // A prefix in one call, then one token at a time.
        let prefix = 5
        let first = lm.model.logits(tokens: Array(ids[..<prefix]), cache: cache)
        for i in 0..<(prefix * V) { worst = max(worst, abs(first[i] - full[i])) }
        for t in prefix..<ids.count {
            let step = lm.model.logits(tokens: [ids[t]], cache: cache)
            for i in 0..<V { worst = max(worst, abs(step[i] - full[t * V + i])) }
        }
        #expect(cache.length == ids.count)
        #expect(worst <= 1e-3)
    }

    @Test func batchedSequencesMatchSeparateOnes() throws {
        let lm = try RealModel.load()
        let a: [Int32] = [504, 3575, 282, 4649, 314, 7042]
        let b: [Int32] = [1604, 3987, 46477, 24, 94, 727]
        let V = lm.model.config.vocabSize
        let both = lm.model.logits(tokens: a + b, batch: 2, seqLen: 6)
        let la = lm.model.logits(tokens: a), lb = lm.model.logits(tokens: b)
        var worst: Float = 0
        for i in 0..<(6 * V) {
            worst = max(worst, abs(both[i] - la[i]), abs(both[6 * V + i] - lb[i]))
        }
        #expect(worst <= 1e-4)
    }
}
