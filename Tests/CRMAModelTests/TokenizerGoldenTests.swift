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
    expectMatchesGolden(tok, golden, roundTrip: roundTrip ? { $0 } : nil)
}

/// `roundTrip`, when given, is what decoding the ids must give back for a text (the text itself, or its
/// normalized form for tokenizers that normalize).
func expectMatchesGolden(_ tok: Tokenizer, _ golden: TokenizerGolden, roundTrip: ((String) -> String)?) {
    #expect(golden.cases.count >= 200)
    var mismatches: [String] = []
    for c in golden.cases {
        let ids = tok.encode(c.text, addBOS: false)
        if ids != c.ids { mismatches.append("\(c.text.debugDescription): got \(ids), expected \(c.ids)") }
        // "▁" is SentencePiece's own space symbol, so text containing it cannot round-trip there.
        if let expected = roundTrip?(c.text), !(tok.kind == .sentencePiece && c.text.contains("▁")) {
            #expect(
                Array(tok.decode(ids).unicodeScalars) == Array(expected.unicodeScalars),
                "decode round trip of \(c.text.debugDescription)")
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

    /// Llama 3's and Qwen 2's split against `tokenizers`' Split pre-tokenizer with their patterns, on 286
    /// strings (Fixtures/tokenizer/llama3-split.golden.json, scripts/fixtures/make_qwen2_tokenizer_golden.py).
    @Test func llama3AndQwen2SplitsMatchTokenizers() throws {
        struct Golden: Decodable {
            struct Case: Decodable { let text: String, qwen2: [String], llama3: [String] }
            let patterns: [String: String]
            let cases: [Case]
        }
        let golden = try JSONDecoder().decode(
            Golden.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("tokenizer/llama3-split.golden.json")))
        #expect(golden.cases.count >= 200)
        #expect(golden.patterns["qwen2"] == PreTokenizer.llama3Pattern(maxDigits: 1))
        #expect(golden.patterns["llama3"] == PreTokenizer.llama3Pattern(maxDigits: 3))
        let qwen2 = PreTokenizer(steps: [.llama3Split(maxDigits: 1)])
        let llama3 = PreTokenizer(steps: [.llama3Split(maxDigits: 3)])
        var mismatches: [String] = []
        for c in golden.cases {
            // Compared scalar by scalar: String's == would call "é" and "e\u{301}" equal.
            func same(_ a: [Substring], _ b: [String]) -> Bool {
                a.map { Array($0.unicodeScalars) } == b.map { Array($0.unicodeScalars) }
            }
            let q = qwen2.split(c.text[...]), l = llama3.split(c.text[...])
            if !same(q, c.qwen2) { mismatches.append("qwen2 \(c.text.debugDescription): \(q) vs \(c.qwen2)") }
            if !same(l, c.llama3) { mismatches.append("llama3 \(c.text.debugDescription): \(l) vs \(c.llama3)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5).joined(separator: "\n"))")
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

extension TokenizerGoldenTests {
    /// Qwen2.5-Coder's byte-level BPE from its GGUF (pre-tokenizer "qwen2": Llama 3's split with one digit per
    /// piece, NFC) against transformers' Qwen2Tokenizer over the same vocabulary and merges on 286 strings
    /// (digits, code, whitespace runs, CJK, emoji, ChatML; scripts/fixtures/make_qwen2_tokenizer_golden.py).
    @Test(.enabled(if: RealModel.hasQwen, "needs models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf and CRMA_QWEN_TESTS=1 (make interop)"))
    func qwen2FromGGUFMatchesTransformers() throws {
        let tok = try Tokenizer(gguf: GGUFFile(path: RealModel.qwenPath))
        #expect(tok.kind == .byteLevel && tok.normalizesToNFC && !tok.addBOS)
        #expect(tok.eosID.map { tok.decode([$0]) } == "<|im_end|>")
        expectMatchesGolden(tok, try TokenizerGolden.load("qwen2"), roundTrip: { String(NFC.normalize($0[...])) })
    }

    /// A tokenizer.json that splits with Qwen 2's pattern and normalizes to NFC loads as Qwen's GGUF does;
    /// a Split with any other pattern is refused by name instead of being tokenized some other way.
    @Test func tokenizerJSONWithQwen2SplitLoadsAndOtherPatternsAreRefused() throws {
        let source = try String(contentsOf: Fixtures.root.appendingPathComponent("tokenizer/tiny-bytelevel.tokenizer.json"), encoding: .utf8)
        var root = try #require(try JSONSerialization.jsonObject(with: Data(source.utf8)) as? [String: Any])
        func write(pattern: String) throws -> String {
            root["normalizer"] = ["type": "NFC"]
            root["pre_tokenizer"] = [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
                ],
            ]
            let path = directory.appendingPathComponent("\(UUID()).json").path
            try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
            return path
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qwen2-split-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let qwen = try Tokenizer(jsonFile: write(pattern: PreTokenizer.llama3Pattern(maxDigits: 1)))
        #expect(qwen.preTokenizer == PreTokenizer(steps: [.llama3Split(maxDigits: 1)]) && qwen.normalizesToNFC)
        #expect(Array(qwen.decode(qwen.encode("e\u{301}", addBOS: false)).unicodeScalars) == ["\u{e9}"])
        #expect(throws: ModelFileError.self) { try Tokenizer(jsonFile: write(pattern: "\\w+|\\s+")) }
    }
}
