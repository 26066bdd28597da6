import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMANumerics
import CRMATestSupport
import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

/// `POST /v1/export` through the daemon: a version's LoRA as PEFT files, its whole adapter set as crma's
/// file, and a clear refusal for what cannot be exported.
extension DaemonTests {
    @Test func exportsAVersionsLoRAAsPEFTAndItsWholeSetAsCRMA() async throws {
        let d = try daemon(config())
        try await learnMedicalThenLegal(d)
        let v3 = try #require(try d.registry.version(3))
        let (loras, _) = try AdapterFile.load(d.blobs.path(v3.adaptersHash!), model: Self.lm.model)
        func tensors(_ file: ExportResponse.File) throws -> SafetensorsFile {
            let path = "\(dir.path)/\(file.name)"
            try Data(base64Encoded: file.base64)!.write(to: URL(fileURLWithPath: path))
            return try SafetensorsFile(path: path)
        }

        // The version's own domain by default, then an earlier one; each file is its LoRA, PEFT-named.
        for (domain, expected) in [(nil, "legal"), ("medical", "medical")] as [(String?, String)] {
            let peft = try await d.export(ExportRequest(version: 3, domain: domain, format: "peft"))
            #expect(peft.domain == expected && peft.files.map(\.name) == ["adapter_model.safetensors", "adapter_config.json"])
            #expect(peft.carries.contains("not the CRMA substrate"))
            let lora = try #require(loras.first { $0.name == expected })
            let file = try tensors(peft.files[0])
            let name = PEFTExport.tensorName(layer: 1, projection: .v, matrix: "B")
            #expect(try file.floats(name) == lora.b[1][.v]!.value.array)
            let config = try JSONSerialization.jsonObject(with: Data(base64Encoded: peft.files[1].base64)!) as? [String: Any]
            #expect(config?["r"] as? Int == 4 && config?["peft_type"] as? String == "LORA")
        }
        // crma: the stored adapter file itself, every LoRA and the substrate.
        let whole = try await d.export(ExportRequest(version: 3, format: "crma"))
        let stored = try d.blobs.get(v3.adaptersHash!)
        #expect(whole.files.count == 1 && Data(base64Encoded: whole.files[0].base64) == stored)

        // Refusals, each saying why.
        await #expect(throws: VersionExport.Failure.baseModel(1)) { try await d.export(ExportRequest(version: 1, format: "peft")) }
        await #expect(throws: VersionExport.Failure.notLearned(domain: "code", version: 3, learned: ["legal", "medical"])) {
            try await d.export(ExportRequest(version: 3, domain: "code", format: "peft"))
        }
        await #expect(throws: VersionExport.Failure.unknownFormat("onnx")) { try await d.export(ExportRequest(version: 3, format: "onnx")) }
        await #expect(throws: VersionExport.Failure.mergedNeedsGGUF(format: "peft", baseModel: "tiny")) {
            try await d.export(ExportRequest(version: 3, format: "peft", merged: true))
        }
        await #expect(throws: RegistryError.noSuchVersion(99)) { try await d.export(ExportRequest(version: 99, format: "crma")) }
        await stop(d)
    }

    /// `--format gguf`: llama.cpp's adapter layout (q/k rows of B in its rotary order), and `--merged`: the
    /// base GGUF with the LoRA folded in, which scores as the base model with the LoRA does.
    @Test func exportsALoRAForLlamaCppAsAnAdapterAndMergedIntoTheBaseGGUF() async throws {
        let gguf = TinyModels.root.appendingPathComponent("llama-f32.gguf").path
        let d = try daemon(config { $0.model.path = gguf })
        try await learnMedicalThenLegal(d)
        let v3 = try #require(try d.registry.version(3))
        let (loras, _) = try AdapterFile.load(d.blobs.path(v3.adaptersHash!), model: Self.lm.model)
        let lora = try #require(loras.first { $0.name == "legal" })
        let c = Self.lm.model.config
        func save(_ f: ExportResponse.File) throws -> String {
            let path = "\(dir.path)/\(f.name)"
            try Data(base64Encoded: f.base64)!.write(to: URL(fileURLWithPath: path))
            return path
        }

        let adapter = try await d.export(ExportRequest(version: 3, format: "gguf"))
        #expect(adapter.files.map(\ExportResponse.File.name) == ["legal-v3-lora.gguf"] && adapter.carries.contains("--lora"))
        let file = try GGUFFile(path: try save(adapter.files[0]))
        #expect(file.metadata["general.type"]?.string == "adapter" && file.metadata["adapter.type"]?.string == "lora")
        #expect(file.metadata["adapter.lora.alpha"]?.double == Double(lora.config.alpha))
        #expect(file.metadata["general.architecture"]?.string == "llama")
        let a = try #require(file.tensor("blk.1.attn_v.weight.lora_a")), b = try #require(file.tensor("blk.1.attn_q.weight.lora_b"))
        #expect(a.dims == [c.hiddenSize, lora.config.rank] && b.dims == [lora.config.rank, c.qSize])
        // B of q, read back and put in Hugging Face row order again, is the LoRA's.
        let stored = Array(file.data(of: b).bindMemory(to: Float.self))
        var unpermuted = [Float](repeating: 0, count: stored.count)
        stored.withUnsafeBufferPointer { s in
            unpermuted.withUnsafeMutableBufferPointer {
                GGUFLlamaSource.unpermuteRotaryRows(
                    s.baseAddress!, into: $0.baseAddress!, heads: c.heads, headDim: c.headDim, columns: lora.config.rank)
            }
        }
        #expect(unpermuted == lora.b[1][.q]!.value.array && stored != unpermuted)

        let merged = try await d.export(ExportRequest(version: 3, format: "gguf", merged: true))
        #expect(merged.files.map(\ExportResponse.File.name) == ["legal-v3-merged.gguf"])
        let model = try LanguageModel.load(path: try save(merged.files[0]))
        let tokens: [Int32] = [1, 42, 17, 99, 3, 250, 61]
        let folded = model.model.logits(tokens: tokens)
        let adapted = Self.lm.model.hiddenStates(tokens: tokens, batch: 1, seqLen: tokens.count, adapters: AdapterSet(loras: [lora]))
        let reference = FloatBuffer(count: tokens.count * c.vocabSize)
        Self.lm.model.logits(hidden: adapted.pointer, rows: tokens.count, into: reference.pointer)
        let base = Self.lm.model.logits(tokens: tokens)
        let worst = (0..<reference.count).reduce(Float(0)) { max($0, abs(folded[$1] - reference[$1])) }
        let moved = (0..<reference.count).reduce(Float(0)) { max($0, abs(base[$1] - reference[$1])) }
        #expect(worst < 1e-4 && moved > 1e-3, "merged vs LoRA \(worst), LoRA's effect \(moved)")
        await stop(d)
    }
}
