import Foundation
import Testing
@testable import CRMAModel
@testable import CRMANumerics

/// The real Qwen2.5-Coder-0.5B (`make model-qwen`; run by `make interop`) against
/// Fixtures/forward/qwen2-logits.json, written by scripts/fixtures/make_qwen2_golden.py: an independent NumPy
/// float64 forward pass over the same GGUF weights, with q/k/v biases and Hugging Face's row order.
@Suite(.serialized, .enabled(if: RealModel.hasQwen, "needs models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf and CRMA_QWEN_TESTS=1 (make interop)"))
struct QwenForwardTests {
    @Test func configComesFromTheGGUFMetadata() throws {
        let c = try RealModel.qwen().model.config
        #expect(c.family == .qwen2 && c.family.qkvBias)
        #expect((c.hiddenSize, c.layers, c.heads, c.kvHeads, c.headDim, c.ffnSize) == (896, 24, 14, 2, 64, 4864))
        #expect(c.vocabSize == 151_936 && !c.tiedEmbeddings && c.ropeTheta == 1_000_000)
    }

    @Test func logitsMatchTheReferenceAtEveryPosition() throws {
        let worst = try RealLogitsFixture.load("forward/qwen2-logits.json").worstLogitError(try RealModel.qwen())
        print("Qwen 2: max |Δlogit| vs reference: \(worst)")
        #expect(worst <= 2e-4)
    }

    @Test func kvCacheDecodingMatchesTheFullForwardPass() throws {
        let ids: [Int32] = [750, 15801, 39345, 1445, 982, 262, 421, 308, 366, 220, 17, 510, 286, 470, 308]
        #expect(worstCachedDecodingError(try RealModel.qwen(), ids: ids, prefix: 8) <= 2e-3)
    }

    /// Rolling perplexity of the GPL-3 text against transformers' float32 (qwen2-perplexity.json,
    /// make_qwen2_golden.py --perplexity): the tokenizer and the whole forward pass at once.
    @Test func perplexityMatchesTransformersWithinPointTwoPercent() throws {
        try expectPerplexityMatches(fixture: "qwen2-perplexity", try RealModel.qwen())
    }
}

/// The real Qwen2.5-Coder-1.5B (`make model-qwen-1.5b`; `make interop` runs it when present) against
/// Fixtures/forward/qwen2-1.5b-logits.json (make_qwen2_golden.py --size 1.5b): GQA 6:1, 28 layers.
@Suite(.enabled(if: RealModel.hasQwen15, "needs models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf and CRMA_QWEN_TESTS=1"))
struct Qwen15BForwardTests {
    @Test func logitsMatchTheReferenceAtEveryPosition() throws {
        let lm = try LanguageModel.load(path: RealModel.qwen15Path)
        let c = lm.model.config
        #expect((c.hiddenSize, c.layers, c.heads, c.kvHeads, c.vocabSize) == (1536, 28, 12, 2, 151_936))
        let worst = try RealLogitsFixture.load("forward/qwen2-1.5b-logits.json").worstLogitError(lm)
        print("Qwen 2 1.5B: max |Δlogit| vs reference: \(worst)")
        #expect(worst <= 2e-4)
    }
}
