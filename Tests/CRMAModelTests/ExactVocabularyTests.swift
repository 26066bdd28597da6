import Foundation
import Testing
@testable import CRMAModel

/// Vocabularies hold texts Swift's `String` equality takes for one another (canonical equivalence): ";"
/// (U+003B) and the Greek question mark (U+037E), "é" precomposed (U+00E9) and decomposed (e + U+0301).
/// Gemma's has such pairs; each is its own token.
@Suite struct ExactVocabularyTests {
    static let pairs = ["\u{3B}", "\u{37E}", "\u{E9}", "e\u{301}"]

    /// A SentencePiece-style tokenizer.json whose vocabulary holds both spellings of each pair, the second
    /// through a JSON escape.
    static let json = """
        {"model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
          "vocab": {"<unk>": 0, "e": 1, "\u{3B}": 2, "\\u037e": 3, "\u{E9}": 4, "e\u{301}": 5, "\u{301}": 6, "\\u2581": 7},
          "merges": [["e", "\u{301}"]]},
         "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"},
         "added_tokens": []}
        """

    @Test func tokenizerJSONKeepsEveryCanonicallyEquivalentPiece() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("exact-vocab-\(getpid()).json")
        try Data(Self.json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let tok = try Tokenizer(jsonFile: url.path)
        #expect(tok.model.tokens[2...5].map { Array($0.unicodeScalars) } == Self.pairs.map { Array($0.unicodeScalars) })
        for (offset, text) in Self.pairs.enumerated() {
            #expect(tok.id(of: text) == Int32(offset + 2), "\(text.unicodeScalars.map(\.value))")
            #expect(tok.encode(text, addBOS: false) == [Int32(offset + 2)], "\(text.unicodeScalars.map(\.value))")
        }
        #expect(tok.model.unknownID == 0)
    }

    @Test func scoredVocabularyKeepsEveryCanonicallyEquivalentPiece() {
        let tokens = ["<unk>", "e"] + Self.pairs + ["\u{301}"]
        let model = BPEModel(tokens: tokens, scores: [0, -1, -1, -1, -1, -1, -1], byteFallback: false, unknownID: 0)
        for (offset, text) in Self.pairs.enumerated() {
            var ids: [Int32] = []
            model.encode(text, into: &ids)
            #expect(ids == [Int32(offset + 2)], "\(text.unicodeScalars.map(\.value))")
        }
    }

    @Test func malformedJSONIsAClearError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("exact-vocab-bad-\(getpid()).json")
        try Data(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b" 1}}}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: ModelFileError.self) { try Tokenizer(jsonFile: url.path) }
    }
}
