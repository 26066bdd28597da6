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
    /// Qwen2.5-Coder-0.5B-Instruct (`make model-qwen`). Its tests run in `make interop`, which fetches it and
    /// sets CRMA_QWEN_TESTS=1; `make test` leaves them out even where the file exists, so that it runs as in CI
    /// (the 0.5B's perplexity test alone takes minutes in a debug build and slowed the daemon's tests past
    /// their limit).
    static let qwenPath = projectRoot.appendingPathComponent("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").path
    static let hasQwen = qwenTestsWanted && FileManager.default.fileExists(atPath: qwenPath)
    static let sharedQwen: Result<LanguageModel, any Error> = Result { try LanguageModel.load(path: qwenPath) }
    static func qwen() throws -> LanguageModel { try sharedQwen.get() }

    /// Qwen2.5-Coder-1.5B-Instruct (`make model-qwen-1.5b`), under the same switch.
    static let qwen15Path = projectRoot.appendingPathComponent("models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").path
    static let hasQwen15 = qwenTestsWanted && FileManager.default.fileExists(atPath: qwen15Path)

    static let qwenTestsWanted = ProcessInfo.processInfo.environment["CRMA_QWEN_TESTS"] == "1"
}
