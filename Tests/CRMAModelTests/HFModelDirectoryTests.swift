import Foundation
import Testing
@testable import CRMAModel
import CRMANumerics

/// Fixtures/tiny was written by scripts/fixtures/make_tiny_models.py: tiny random models in every
/// loadable format, with reference logits from an independent NumPy forward pass on the same weights.
struct TinyReference: Decodable {
    let ids: [[Int32]]
    let logits: [String: [[[Double]]]]
    let gguf_matches: String

    static func load() throws -> TinyReference {
        try JSONDecoder().decode(
            TinyReference.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("tiny/reference.json")))
    }
}

@Suite struct TinyModelTests {
    @Test(arguments: ["llama-f32", "llama-bf16-sharded", "mistral-f16", "llama-f32.gguf"])
    func logitsMatchTheReference(model: String) throws {
        let ref = try TinyReference.load()
        let lm = try LanguageModel.load(path: Fixtures.path("tiny/\(model)"))
        let expected = try #require(ref.logits[model.hasSuffix(".gguf") ? ref.gguf_matches : model])
        let V = lm.model.config.vocabSize
        var worst = 0.0
        for (ids, rows) in zip(ref.ids, expected) {
            let logits = lm.model.logits(tokens: ids)
            for (t, row) in rows.enumerated() {
                #expect(row.count == V)
                for (i, v) in row.enumerated() { worst = max(worst, abs(Double(logits[t * V + i]) - v)) }
            }
        }
        #expect(worst < 1e-4, "max |Δlogit| \(worst)")
    }

    @Test func configIsReadFromConfigJSON() throws {
        let dir = try HFModelDirectory(path: Fixtures.path("tiny/mistral-f16"))
        #expect(dir.config.heads == 8)
        #expect(dir.config.kvHeads == 2)
        #expect(dir.config.ropeTheta == 1_000_000)
        #expect(dir.config.tiedEmbeddings == false)
    }

    /// transformers 5 writes `rope_parameters: {rope_theta, rope_type}` instead of a top-level `rope_theta`
    /// (SmolLM2 saved by it has base 100,000; read as the default 10,000 it scored 0.2 nats worse).
    @Test func ropeParametersOfTransformers5AreRead() throws {
        let dir = try copyOfTinyDirectory("mistral-f16") { config in
            let theta = config.removeValue(forKey: "rope_theta")
            config["rope_parameters"] = ["rope_theta": theta!, "rope_type": "default"]
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try HFModelDirectory(path: dir).config.ropeTheta == 1_000_000)
    }

    @Test func scaledRotaryPositionsAreRefused() throws {
        for scaling in [
            ["rope_parameters": ["rope_theta": 500_000.0, "rope_type": "llama3", "factor": 32.0]],
            ["rope_scaling": ["type": "linear", "factor": 2.0]],
        ] as [[String: Any]] {
            let dir = try copyOfTinyDirectory("mistral-f16") { config in config.merge(scaling) { $1 } }
            defer { try? FileManager.default.removeItem(atPath: dir) }
            #expect(throws: ModelFileError.self) { try HFModelDirectory(path: dir) }
        }
    }

    /// A copy of a tiny model directory (its files linked) with `edit` applied to its config.json.
    func copyOfTinyDirectory(_ name: String, edit: (inout [String: Any]) -> Void) throws -> String {
        let source = Fixtures.path("tiny/\(name)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: source) where file != "config.json" {
            try FileManager.default.createSymbolicLink(atPath: "\(dir)/\(file)", withDestinationPath: "\(source)/\(file)")
        }
        var config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(source)/config.json")))
                as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(dir)/config.json"))
        return dir
    }

    @Test func ggufAndSafetensorsOfTheSameWeightsAgree() throws {
        let a = try LanguageModel.load(path: Fixtures.path("tiny/llama-f32"))
        let b = try LanguageModel.load(path: Fixtures.path("tiny/llama-f32.gguf"))
        #expect(a.tokenizer.encode("Hello world 123") == b.tokenizer.encode("Hello world 123"))
        // Same q/k rows after undoing llama.cpp's permutation.
        let qa = a.model.weights.layers[0].qkv, qb = b.model.weights.layers[0].qkv
        #expect(qa.array == qb.array)
    }
}

@Suite struct HostileSafetensorsTests {
    func write(_ header: String, payload: Int = 16, lengthOverride: UInt64? = nil) throws -> String {
        var d = Data()
        let h = Array(header.utf8)
        withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(contentsOf: h)
        d.append(Data(count: payload))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "crma-st-\(UUID().uuidString).safetensors")
        try d.write(to: url)
        return url.path
    }

    @Test func validFileReads() throws {
        let f = try SafetensorsFile(path: write(#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#))
        #expect(f.tensors["w"]?.shape == [2, 2])
    }

    @Test func headerLengthBeyondFile() throws {
        #expect(throws: ModelFileError.self) { try SafetensorsFile(path: write("{}", lengthOverride: 1 << 20)) }
        #expect(throws: ModelFileError.self) { try SafetensorsFile(path: write("{}", lengthOverride: 1 << 60)) }
    }

    @Test func headerNotJSON() throws {
        #expect(throws: ModelFileError.self) { try SafetensorsFile(path: write("not json")) }
    }

    @Test func offsetsOutOfRange() throws {
        let path = try write(#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,64]}}"#)
        #expect(throws: ModelFileError.self) { try SafetensorsFile(path: path) }
    }

    @Test func shapeDisagreesWithByteCount() throws {
        let path = try write(#"{"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#)
        #expect(throws: ModelFileError.self) { try SafetensorsFile(path: path) }
    }

    @Test func unknownDtype() throws {
        let path = try write(#"{"w":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}}"#)
        #expect(throws: ModelFileError.unsupportedDType(tensor: "w", dtype: "F8_E4M3")) {
            try SafetensorsFile(path: path)
        }
    }

    /// Every truncation of a real safetensors file is rejected with a `ModelFileError`, never a trap.
    @Test func truncatedCopiesAreRejected() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tiny/mistral-f16/model.safetensors")))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("crma-trunc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        for n in stride(from: 0, to: full.count, by: full.count / 97) {
            try full.prefix(n).write(to: url)
            #expect(throws: ModelFileError.self) { try SafetensorsFile(path: url.path) }
        }
    }

    @Test func missingModelSaysHowToGetIt() {
        do {
            _ = try LanguageModel.load(path: "/nonexistent/" + LanguageModel.defaultPath)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("make model"))
        }
    }

    @Test func directoryWithoutConfigIsRejected() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crma-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        #expect(throws: ModelFileError.self) { try LanguageModel.load(path: dir.path) }
    }
}
