import CRMATestSupport
import CRMAModel
import CRMANumerics
import Foundation
import Testing
@testable import CRMAAdapters

@Suite struct AdapterExportTests {
    func tmp(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("crma-\(UUID().uuidString)-\(name)").path
    }

    func trainedLoRA(_ lm: LanguageModel) -> LoRA {
        let lora = LoRA(
            name: "legal", config: LoRAConfig(rank: 4, alpha: 8, targets: Projection.allCases), model: lm.model.config,
            seed: 1)
        AdapterGradCheck.randomize(lora.parameters, seed: 2, scale: 0.1)
        return lora
    }

    @Test func savedAdaptersLoadBackExactly() throws {
        let lm = try TinyModels.load("llama-f32")
        let lora = trainedLoRA(lm)
        let crma = CRMA(config: CRMAConfig(), model: lm.model, seed: 3)
        AdapterGradCheck.randomize(crma.parameters, seed: 4, scale: 0.1)
        let path = tmp("a.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try AdapterFile.save(loras: [lora], crma: crma, to: path)
        let (loras, loaded) = try AdapterFile.load(path, model: lm.model)
        #expect(loras.count == 1 && loras[0].name == "legal" && loras[0].config == lora.config)
        #expect(loras[0].parameters.map(\.value.array) == lora.parameters.map(\.value.array))
        #expect(loaded?.parameters.map(\.value.array) == crma.parameters.map(\.value.array))
    }

    @Test func peftExportUsesHuggingFaceNamesAndShapes() throws {
        let lm = try TinyModels.load("llama-f32")
        let lora = trainedLoRA(lm)
        let dir = tmp("peft")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PEFTExport.write(lora, baseModel: "tiny-llama", to: dir)
        let file = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        let c = lm.model.config
        let a = try #require(file.tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"])
        let b = try #require(file.tensors["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"])
        #expect(a.shape == [4, c.hiddenSize])
        #expect(b.shape == [c.hiddenSize, 4])
        #expect(file.tensors.count == 2 * 7 * c.layers)
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json")))
            as! [String: Any]
        #expect(config["peft_type"] as? String == "LORA")
        #expect(config["r"] as? Int == 4)
        #expect((config["target_modules"] as? [String])?.contains("down_proj") == true)
    }

    @Test func mergedWeightsGiveTheSameLogitsAsTheAdapter() throws {
        let lm = try TinyModels.load("llama-f32")
        let lora = trainedLoRA(lm)
        let ids: [Int32] = (0..<12).map { Int32(($0 * 31 + 5) % lm.model.config.vocabSize) }
        let b = TrainingBatch.causal([ids + [3]], seqLen: 12)
        let adapted = LlamaTrainingPass(model: lm.model, hooks: AdapterSet(loras: [lora])).forward(b)
        let merged = LlamaModel(
            config: lm.model.config, weights: lora.merged(into: lm.model))
        let viaMerge = LlamaTrainingPass(model: merged, hooks: nil).forward(b)
        #expect(abs(adapted - viaMerge) < 1e-5)
        let base = LlamaTrainingPass(model: lm.model, hooks: nil).forward(b)
        #expect(abs(adapted - base) > 1e-3, "the LoRA must change the model for this test to mean anything")
    }

    /// llama.cpp's GGUF for Gemma keeps q and k rows in Hugging Face order: the adapter's B is written as it
    /// is, and the merged GGUF scores as the model with the LoRA (its q/k rows not permuted).
    @Test func ggufExportOfAGemmaLoRAKeepsHuggingFaceRowOrder() throws {
        let path = TinyModels.root.deletingLastPathComponent().appendingPathComponent("tiny-gemma/gemma3-f32.gguf").path
        let lm = try LanguageModel.load(path: path)
        let lora = trainedLoRA(lm)
        let adapter = tmp("lora.gguf"), merged = tmp("merged.gguf")
        defer { for f in [adapter, merged] { try? FileManager.default.removeItem(atPath: f) } }
        try GGUFExport.adapter(lora, config: lm.model.config, architecture: "gemma3", name: "legal")
            .write(to: URL(fileURLWithPath: adapter))
        let file = try GGUFFile(path: adapter)
        let q = try #require(file.tensor("blk.0.attn_q.weight.lora_b"))
        #expect(Array(file.data(of: q).bindMemory(to: Float.self)) == lora.b[0][.q]!.value.array)
        try GGUFExport.merged(lora, config: lm.model.config, source: try GGUFFile(path: path), name: "legal")
            .write(to: URL(fileURLWithPath: merged))
        let ids: [Int32] = (0..<12).map { Int32(($0 * 31 + 5) % lm.model.config.vocabSize) }
        let b = TrainingBatch.causal([ids + [3]], seqLen: 12)
        let adapted = LlamaTrainingPass(model: lm.model, hooks: AdapterSet(loras: [lora])).forward(b)
        let viaFile = LlamaTrainingPass(model: try LanguageModel.load(path: merged).model, hooks: nil).forward(b)
        #expect(abs(adapted - viaFile) < 1e-5)
        #expect(abs(adapted - LlamaTrainingPass(model: lm.model, hooks: nil).forward(b)) > 1e-3)
    }
}
