import Foundation
import Testing
@testable import CRMAModel

/// Inputs crma-fuzz found that used to trap while loading tokenizer.json.
@Suite struct TokenizerJSONHostileTests {
    func load(_ json: String) throws -> Tokenizer {
        let path = NSTemporaryDirectory() + "tok-\(UUID().uuidString).json"
        FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
        defer { unlink(path) }
        return try Tokenizer(jsonFile: path)
    }

    static let base =
        #"{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}, "added_tokens": [ADDED]}"#

    @Test(arguments: [-1, -2_147_483_649, 3_000_000, Int.max])
    func addedTokenIDsOutOfRangeAreRefused(_ id: Int) {
        #expect(throws: ModelFileError.self) {
            try load(Self.base.replacingOccurrences(of: "ADDED", with: #"{"id": \#(id), "content": "<x>"}"#))
        }
    }

    @Test func aValidAddedTokenStillLoads() throws {
        let t = try load(Self.base.replacingOccurrences(of: "ADDED", with: #"{"id": 2, "content": "<x>", "special": true}"#))
        #expect(t.id(of: "<x>") == 2)
    }
}

/// A Gemma-style tokenizer.json (spaces replaced by "▁" without a prefix, `<bos>` added by a
/// TemplateProcessing post-processor, `<eos>` beside an HTML `</s>` piece, a non-special added token for a
/// newline): BOS and EOS are Gemma's, no "▁" is prepended, and the newline is text.
@Suite struct GemmaStyleTokenizerJSONTests {
    @Test func bosEOSPrefixAndTextTokensFollowTheFile() throws {
        let vocab = ["<pad>": 0, "<eos>": 1, "<bos>": 2, "</s>": 3, "\n": 4, "▁": 5, "a": 6, "b": 7, "▁a": 8]
        let json: [String: Any] = [
            "model": ["type": "BPE", "vocab": vocab, "merges": ["▁ a"], "byte_fallback": false],
            "normalizer": ["type": "Replace", "pattern": ["String": " "], "content": "▁"],
            "post_processor": ["type": "TemplateProcessing", "single": [["SpecialToken": ["id": "<bos>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]]],
            "added_tokens": [
                ["id": 0, "content": "<pad>", "special": true], ["id": 1, "content": "<eos>", "special": true],
                ["id": 2, "content": "<bos>", "special": true], ["id": 3, "content": "</s>", "special": false],
                ["id": 4, "content": "\n", "special": false],
            ],
        ]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gemma-style-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let tok = try Tokenizer(jsonFile: path)
        #expect(tok.kind == .sentencePiece && tok.bosID == 2 && tok.eosID == 1 && tok.addBOS && !tok.addSpacePrefix)
        #expect(tok.encode("a a\nb") == [2, 6, 8, 4, 7])
        #expect(tok.decode([2, 6, 4, 7], skipSpecial: true) == "a\nb")
    }
}
