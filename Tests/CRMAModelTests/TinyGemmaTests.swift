import Foundation
import Testing
@testable import CRMAModel
import CRMANumerics

/// Fixtures/tiny-gemma was written by scripts/fixtures/make_tiny_gemma.py: tiny random Gemma 2 and Gemma 3
/// models (Hugging Face directories and a GGUF as llama.cpp's converter writes it), with reference logits
/// from an independent NumPy forward pass on the same weights (itself checked against transformers). Their
/// sliding windows (4 keys) are shorter than the prompts, and Gemma 2's soft-caps (5 on scores, 3 on
/// logits) are small enough to bite.
/// (make_tiny_qwen.py writes Fixtures/tiny-qwen the same way.)
struct TinyModelReference: Decodable {
    let ids: [[Int32]]
    let logits: [String: [[[Double]]]]

    static func load(_ directory: String) throws -> TinyModelReference {
        try JSONDecoder().decode(
            TinyModelReference.self,
            from: Data(contentsOf: Fixtures.root.appendingPathComponent("\(directory)/reference.json")))
    }

    /// The largest |Δlogit| between `model` (a file or directory under `directory`) and the reference.
    func worstLogitError(directory: String, model: String) throws -> Double {
        let lm = try LanguageModel.load(path: Fixtures.path("\(directory)/\(model)"))
        let expected = try #require(logits[model])
        let V = lm.model.config.vocabSize
        var worst = 0.0
        for (ids, rows) in zip(ids, expected) {
            #expect(ids.count > lm.model.config.family.slidingWindow)
            let logits = lm.model.logits(tokens: ids)
            for (t, row) in rows.enumerated() {
                for (i, v) in row.enumerated() { worst = max(worst, abs(Double(logits[t * V + i]) - v)) }
            }
        }
        return worst
    }
}

@Suite struct TinyGemmaTests {
    @Test(arguments: ["gemma2-f32", "gemma3-bf16", "gemma3-f32.gguf"])
    func logitsMatchTheReference(model: String) throws {
        let worst = try TinyModelReference.load("tiny-gemma").worstLogitError(directory: "tiny-gemma", model: model)
        #expect(worst < 1e-4, "max |Δlogit| \(worst)")
    }

    @Test func theFamilyComesFromConfigJSONAndGGUF() throws {
        let g2 = try HFModelDirectory(path: Fixtures.path("tiny-gemma/gemma2-f32")).config
        #expect(g2.family.name == "gemma2" && g2.family.attentionSoftcap == 5 && g2.family.finalSoftcap == 3)
        #expect(g2.family.slidingLayers == [true, false] && g2.attentionScale == 1 / Float(24).squareRoot())
        #expect(!g2.family.qkNorm && g2.family.sandwichNorms && g2.family.activation == .geGLU)
        let hf = try HFModelDirectory(path: Fixtures.path("tiny-gemma/gemma3-bf16")).config
        let gguf = try GGUFLlamaSource(try GGUFFile(path: Fixtures.path("tiny-gemma/gemma3-f32.gguf"))).config
        for c in [hf, gguf] {
            #expect(c.family.name == "gemma3" && c.family.qkNorm && c.family.slidingLayers == [true, true, false])
            #expect(c.ropeTheta(layer: 0) == 10_000 && c.ropeTheta(layer: 2) == 1_000_000 && c.window(layer: 2) == nil)
            #expect(c.window(layer: 0) == 4 && c.attentionScale == 0.25 && c.family.attentionSoftcap == nil)
        }
    }

    /// Rotary scaling (Gemma 3 4B and larger) is refused with a clear error rather than run with wrong
    /// positions; an explicit `"sliding_window": null` means no window.
    @Test func unsupportedRotaryScalingIsRefusedAndANullWindowIsNone() throws {
        let source = Fixtures.path("tiny-gemma/gemma3-bf16")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gemma-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(atPath: source, toPath: dir.path)
        let configURL = dir.appendingPathComponent("config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        json["sliding_window"] = NSNull()
        try JSONSerialization.data(withJSONObject: json).write(to: configURL)
        #expect(try HFModelDirectory(path: dir.path).config.window(layer: 0) == nil)
        json["rope_parameters"] = ["full_attention": ["rope_type": "linear", "rope_theta": 1e6, "factor": 8.0]]
        try JSONSerialization.data(withJSONObject: json).write(to: configURL)
        #expect {
            try HFModelDirectory(path: dir.path)
        } throws: { "\($0)".contains("rotary scaling") }
    }

    /// Hugging Face stores Gemma's norm weights as w (the model multiplies by 1 + w), GGUF as 1 + w: both
    /// load to the same weights.
    @Test func ggufAndSafetensorsNormsAgree() throws {
        let a = try LanguageModel.load(path: Fixtures.path("tiny-gemma/gemma3-bf16"))
        let b = try LanguageModel.load(path: Fixtures.path("tiny-gemma/gemma3-f32.gguf"))
        for (x, y) in zip(a.model.weights.layers, b.model.weights.layers) {
            for (p, q) in [(x.attnNorm, y.attnNorm), (x.qNorm, y.qNorm), (x.postFFNNorm, y.postFFNNorm)] {
                #expect(p.count > 0 && zip(p.array, q.array).allSatisfy { abs($0 - $1) < 1e-2 })
            }
        }
    }

    @Test func geGLUKernelsMatchTheFormulaAndItsDerivative() {
        let F = 37
        var gu = [Float](repeating: 0, count: 2 * F)
        for j in 0..<F { gu[j] = Float(j - 18) * 0.4; gu[F + j] = 1 + Float(j) * 0.05 }
        var out = [Float](repeating: 0, count: F)
        Kernels.geGLU(gu, rows: 1, ffn: F, into: &out)
        func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
        for j in 0..<F {
            #expect(abs(Double(out[j]) - gelu(Double(gu[j])) * Double(gu[F + j])) < 1e-5)
        }
        let dOut = [Float](repeating: 1, count: F)
        var dGU = [Float](repeating: 0, count: 2 * F)
        BackwardKernels.geGLU(gu: gu, dOut: dOut, rows: 1, ffn: F, dGU: &dGU)
        for j in 0..<F {
            let x = Double(gu[j]), h = 1e-4
            let slope = (gelu(x + h) - gelu(x - h)) / (2 * h)
            #expect(abs(Double(dGU[j]) - slope * Double(gu[F + j])) < 1e-3)
            #expect(abs(Double(dGU[F + j]) - gelu(x)) < 1e-5)
        }
    }
}
