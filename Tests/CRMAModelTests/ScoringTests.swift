import Foundation
import Testing
@testable import CRMAModel

@Suite struct RollingWindowTests {
    @Test func everyTokenIsPredictedOnceWithFullContext() {
        let tokens = (10..<21).map(Int32.init)  // 11 tokens
        let w = RollingWindows.make(tokens: tokens, prefix: 1, maxLength: 4)
        #expect(w.map(\.predicted).flatMap { $0 } == tokens)
        #expect(w[0] == ScoringWindow(input: [1, 10, 11, 12], predicted: [10, 11, 12, 13]))
        #expect(w[1] == ScoringWindow(input: [13, 14, 15, 16], predicted: [14, 15, 16, 17]))
        // The last window keeps a full-length input and predicts only the remaining tokens.
        #expect(w[2] == ScoringWindow(input: [16, 17, 18, 19], predicted: [18, 19, 20]))
    }

    @Test func shortDocumentIsOneWindow() {
        let w = RollingWindows.make(tokens: [5, 6], prefix: 0, maxLength: 8)
        #expect(w == [ScoringWindow(input: [0, 5], predicted: [5, 6])])
    }
}

/// Fixtures/forward/perplexity.json: the NumPy reference's rolling perplexity
/// (scripts/fixtures/make_forward_golden.py) on the first 10,240 bytes of Debian's GPL-3 text.
struct PerplexityFixture: Decodable {
    let source: String
    let bytes: Int
    let sha256: String
    let context: Int
    let tokens: Int
    let mean_nll: Double
    let perplexity: Double
    let bits_per_byte: Double
}

@Suite(.serialized) struct PerplexityTests {
    /// SmolLM2 (perplexity.json) and Gemma 3 270M (gemma3-perplexity.json, make_gemma_golden.py --perplexity).
    @Test(arguments: ["perplexity", "gemma3-perplexity"])
    func perplexityMatchesTheReferenceWithinPointTwoPercent(fixture: String) throws {
        try expectPerplexityMatches(fixture: fixture, fixture.hasPrefix("gemma") ? RealModel.gemma() : RealModel.load())
    }
}

/// Scores the fixture's text with `lm` and expects the reference's token count and a perplexity and bits
/// per byte within 0.2% of its.
func expectPerplexityMatches(fixture: String, _ lm: LanguageModel) throws {
    let fx = try JSONDecoder().decode(
        PerplexityFixture.self,
        from: Data(contentsOf: Fixtures.root.appendingPathComponent("forward/\(fixture).json")))
    let raw = try Data(contentsOf: URL(fileURLWithPath: fx.source)).prefix(fx.bytes)
    let digest = SHA256.hex(raw)
    try #require(digest == fx.sha256, "\(fx.source) differs from the text the reference scored")
    let s = Scorer(lm).scoreDocument(String(decoding: raw, as: UTF8.self), context: fx.context)
    #expect(s.tokens == fx.tokens)
    #expect(abs(s.perplexity / fx.perplexity - 1) < 0.002, "perplexity \(s.perplexity) vs \(fx.perplexity)")
    #expect(abs(s.bitsPerByte / fx.bits_per_byte - 1) < 0.002)
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func streamingEqualsOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var s = SHA256()
        for chunk in stride(from: 0, to: data.count, by: 37) { s.update(data[chunk..<min(chunk + 37, data.count)]) }
        let hex = s.finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(hex == SHA256.hex(data))
    }
}
