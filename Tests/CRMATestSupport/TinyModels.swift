import CRMAModel
import Foundation

/// The tiny random models that scripts/fixtures/make_tiny_models.py (Llama, Mistral) and make_tiny_gemma.py
/// (`gemma…`: Gemma 2 and Gemma 3) write into the model tests' fixtures, for every test target that trains or
/// adapts a model.
public enum TinyModels {
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("CRMAModelTests/Fixtures/tiny")
    }()

    public static func load(_ name: String) throws -> LanguageModel {
        let dir = name.hasPrefix("gemma") ? root.deletingLastPathComponent().appendingPathComponent("tiny-gemma") : root
        return try LanguageModel.load(path: dir.appendingPathComponent(name).path)
    }
}
