import Foundation
import Testing
@testable import CRMAModel

/// Fixtures/tokenizer/*.golden.json hold the ids Hugging Face `tokenizers` 0.23.3 produced for 248
/// strings (scripts/fixtures/make_tokenizer_golden.py).
struct TokenizerGolden: Decodable {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
    }
    let cases: [Case]

    static func load(_ name: String) throws -> TokenizerGolden {
        try JSONDecoder().decode(
            TokenizerGolden.self,
            from: Data(contentsOf: Fixtures.root.appendingPathComponent("tokenizer/\(name).golden.json")))
    }
}

func expectMatchesGolden(_ tok: Tokenizer, _ golden: TokenizerGolden, roundTrip: Bool = true) {
    #expect(golden.cases.count >= 200)
    var mismatches: [String] = []
    for c in golden.cases {
        let ids = tok.encode(c.text, addBOS: false)
        if ids != c.ids { mismatches.append("\(c.text.debugDescription): got \(ids), expected \(c.ids)") }
        // "▁" is SentencePiece's own space symbol, so text containing it cannot round-trip there.
        if roundTrip, !(tok.kind == .sentencePiece && c.text.contains("▁")) {
            #expect(tok.decode(ids) == c.text, "decode round trip of \(c.text.debugDescription)")
        }
    }
    #expect(
        mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5).joined(separator: "\n"))")
}

@Suite struct TokenizerGoldenTests {
    @Test func smolLM2FromGGUFMatchesHuggingFace() throws {
        let tok = try Tokenizer(gguf: GGUFFile(path: RealModel.path))
        expectMatchesGolden(tok, try TokenizerGolden.load("smollm2"))
    }

    @Test func byteLevelTokenizerJSONMatchesHuggingFace() throws {
        let tok = try Tokenizer(jsonFile: Fixtures.path("tokenizer/tiny-bytelevel.tokenizer.json"))
        #expect(tok.kind == .byteLevel)
        expectMatchesGolden(tok, try TokenizerGolden.load("tiny-bytelevel"))
    }

    @Test func sentencePieceTokenizerJSONMatchesHuggingFace() throws {
        let tok = try Tokenizer(jsonFile: Fixtures.path("tokenizer/tiny-spm.tokenizer.json"))
        #expect(tok.kind == .sentencePiece)
        expectMatchesGolden(tok, try TokenizerGolden.load("tiny-spm"))
    }

    @Test func sentencePieceGGUFMatchesHuggingFace() throws {
        let tok = try Tokenizer(gguf: GGUFFile(path: Fixtures.path("tokenizer/tiny-spm.gguf")))
        #expect(tok.kind == .sentencePiece)
        expectMatchesGolden(tok, try TokenizerGolden.load("tiny-spm"))
    }
}

@Suite struct PreTokenizerTests {
    let gpt2 = PreTokenizer(steps: [.gpt2Split])

    @Test func splitsLikeGPT2() {
        #expect(
            gpt2.split("Hello world's  end\n\nok").map(String.init) == [
                "Hello", " world", "'s", " ", " end", "\n", "\n", "ok",
            ])
        #expect(gpt2.split("a   ").map(String.init) == ["a", "   "])
        #expect(gpt2.split("a   b").map(String.init) == ["a", "  ", " b"])
        #expect(gpt2.split(" !x").map(String.init) == [" !", "x"])
    }

    @Test func digitsAreIsolatedBeforeTheSplit() {
        let p = PreTokenizer(steps: [.digits(individual: true), .gpt2Split])
        #expect(p.split("ab 123").map(String.init) == ["ab", " ", "1", "2", "3"])
    }

    @Test func piecesCoverTheText() {
        let text = "mixed 中文 and\tEnglish 😀!! 42\r\n"
        #expect(gpt2.split(text[...]).joined() == text)
    }
}

extension TokenizerGoldenTests {
    /// Gemma 3's SentencePiece vocabulary of 262,144 pieces from its GGUF (no space prefix, user-defined
    /// pieces for runs of newlines, spaces and tabs) against transformers' tokenizer for the same file
    /// (scripts/fixtures/make_gemma_tokenizer_golden.py).
    @Test func gemma3FromGGUFMatchesTransformers() throws {
        let tok = try Tokenizer(gguf: GGUFFile(path: RealModel.gemmaPath))
        #expect(tok.kind == .sentencePiece && tok.vocabularySize == 262_144)
        expectMatchesGolden(tok, try TokenizerGolden.load("gemma3"))
        // Its user-defined pieces are text: split out even when special tokens are not parsed (as llama.cpp
        // does), and kept when special tokens are skipped in decoding; control tokens are neither.
        let ids = tok.encode("a\n\nb <start_of_turn>", addBOS: false, parseSpecial: false)
        #expect(ids.contains(108) && !ids.contains(105), "\(ids)")
        #expect(tok.decode(ids, skipSpecial: true) == "a\n\nb <start_of_turn>")
        #expect(tok.decode([2, 105, 107], skipSpecial: true) == "\n")
    }
}
