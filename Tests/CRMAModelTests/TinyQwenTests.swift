import Foundation
import Testing
@testable import CRMAModel
import CRMANumerics

/// Fixtures/tiny-qwen was written by scripts/fixtures/make_tiny_qwen.py: tiny random Qwen 2 (q/k/v biases,
/// untied head) and Qwen 3 (QK-norm, head_dim 24 with hidden size 64) models as Hugging Face directories and
/// as GGUF files, with reference logits from an independent NumPy forward pass on the same weights (itself
/// within 3.2e-6 of transformers'). No real Qwen 3 weights can be fetched here: this is its check.
@Suite struct TinyQwenTests {
    @Test(arguments: ["qwen2-f32", "qwen2-f32.gguf", "qwen3-bf16", "qwen3-f32.gguf"])
    func logitsMatchTheReference(model: String) throws {
        let worst = try TinyModelReference.load("tiny-qwen").worstLogitError(directory: "tiny-qwen", model: model)
        #expect(worst < 1e-4, "max |Δlogit| \(worst)")
    }

    @Test func theFamilyComesFromConfigJSONAndGGUF() throws {
        for path in ["tiny-qwen/qwen2-f32", "tiny-qwen/qwen2-f32.gguf"] {
            let c = try LanguageModel.load(path: Fixtures.path(path)).model.config
            #expect(c.family == .qwen2 && c.family.qkvBias && !c.family.qkNorm, "\(path)")
            #expect(!c.tiedEmbeddings && c.ropeTheta == 1_000_000 && c.kvHeads == 2 && c.headDim == 16, "\(path)")
        }
        for path in ["tiny-qwen/qwen3-bf16", "tiny-qwen/qwen3-f32.gguf"] {
            let c = try LanguageModel.load(path: Fixtures.path(path)).model.config
            #expect(c.family == .qwen3 && c.family.qkNorm && !c.family.qkvBias, "\(path)")
            #expect(c.tiedEmbeddings && c.headDim == 24 && c.heads * c.headDim != c.hiddenSize, "\(path)")
        }
    }

    /// Qwen 3's QK-norm weights are used as stored (Gemma's are 1 + w; a Qwen loaded as Gemma would add 1).
    @Test func qwen3NormsLoadAsStoredInBothFormats() throws {
        let a = try LanguageModel.load(path: Fixtures.path("tiny-qwen/qwen3-bf16"))
        let b = try LanguageModel.load(path: Fixtures.path("tiny-qwen/qwen3-f32.gguf"))
        for (x, y) in zip(a.model.weights.layers, b.model.weights.layers) {
            for (p, q) in [(x.attnNorm, y.attnNorm), (x.qNorm, y.qNorm), (x.kNorm, y.kNorm)] {
                #expect(p.count > 0 && p.array == q.array)
                #expect(p.array.reduce(0, +) / Float(p.count) > 0.5, "norm weights are around 1 here")
            }
        }
    }

    /// What this runtime cannot run as the checkpoint means it is refused by name: Qwen 2's sliding window
    /// and Qwen 3's attention biases (which include o's).
    @Test(arguments: [("qwen2-f32", "use_sliding_window"), ("qwen3-bf16", "attention_bias")])
    func unsupportedQwenOptionsAreRefused(model: String, key: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(atPath: Fixtures.path("tiny-qwen/\(model)"), toPath: dir.path)
        let configURL = dir.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        json[key] = true
        try JSONSerialization.data(withJSONObject: json).write(to: configURL)
        #expect {
            try HFModelDirectory(path: dir.path)
        } throws: { "\($0)".contains(key) }
    }
}

/// A directory's declared beginning- and end-of-sequence tokens win over tokenizer.json's guesses:
/// tokenizer_config.json's names, else config.json's ids (a list of eos ids: the first). transformers 5
/// writes the chat template to chat_template.jinja, which is read too.
@Suite struct DeclaredSpecialTokenTests {
    func directory(config: [String: Any], tokenizerConfig: [String: Any]?, template: String?) throws -> Tokenizer {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(atPath: Fixtures.path("tiny-qwen/qwen2-f32"), toPath: dir.path)
        let configURL = dir.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        json.merge(config) { $1 }
        try JSONSerialization.data(withJSONObject: json).write(to: configURL)
        if let tokenizerConfig {
            try JSONSerialization.data(withJSONObject: tokenizerConfig)
                .write(to: dir.appendingPathComponent("tokenizer_config.json"))
        }
        if let template { try Data(template.utf8).write(to: dir.appendingPathComponent("chat_template.jinja")) }
        return try HFModelDirectory(path: dir.path).tokenizer()
    }

    @Test func configJSONIdsAreUsedWhenTheTokenizerConfigNamesNone() throws {
        let t = try directory(config: ["bos_token_id": 0, "eos_token_id": [2, 0]], tokenizerConfig: nil, template: nil)
        #expect(t.bosID == 0 && t.eosID == 2)
        #expect(t.chatTemplate == nil)
    }

    @Test func tokenizerConfigNamesWinAndTheJinjaFileIsTheTemplate() throws {
        let t = try directory(
            config: ["bos_token_id": 0], tokenizerConfig: ["bos_token": "<|im_end|>", "eos_token": ["content": "<|endoftext|>"]],
            template: "{{ '<|im_start|>' }}")
        #expect(t.bosID == 2 && t.eosID == 0)
        #expect(t.chatTemplate == "{{ '<|im_start|>' }}")
    }
}
