import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMANumerics
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
        await #expect(throws: VersionExport.Failure.unknownFormat("gguf")) { try await d.export(ExportRequest(version: 3, format: "gguf")) }
        await #expect(throws: RegistryError.noSuchVersion(99)) { try await d.export(ExportRequest(version: 99, format: "crma")) }
        await stop(d)
    }
}
