import Foundation
@testable import CRMAModel

/// The default model (SmolLM2-135M-Instruct), loaded once for every test that needs it. `make test`
/// fetches it first (`make model`).
enum RealModel {
    static let projectRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static let path = projectRoot.appendingPathComponent(LanguageModel.defaultPath).path

    static let shared: Result<LanguageModel, any Error> = Result { try LanguageModel.load(path: path) }

    static func load() throws -> LanguageModel { try shared.get() }

    /// Gemma 3 270M (`make model-gemma`, which `make test` runs), in fp32.
    static let gemmaPath = projectRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
    static let sharedGemma: Result<LanguageModel, any Error> = Result { try LanguageModel.load(path: gemmaPath) }
    static func gemma() throws -> LanguageModel { try sharedGemma.get() }
}

extension RealModel {
    /// Qwen2.5-Coder-0.5B-Instruct (`make model-qwen`, which `make interop` runs; `make test` does not fetch it).
    static let qwenPath = projectRoot.appendingPathComponent("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").path
    static let hasQwen = FileManager.default.fileExists(atPath: qwenPath)
    static let sharedQwen: Result<LanguageModel, any Error> = Result { try LanguageModel.load(path: qwenPath) }
    static func qwen() throws -> LanguageModel { try sharedQwen.get() }
}
