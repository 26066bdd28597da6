import CRMAModel
import Foundation

/// The tiny random models that scripts/fixtures/make_tiny_models.py (Llama, Mistral), make_tiny_gemma.py
/// (`gemma…`: Gemma 2 and Gemma 3) and make_tiny_qwen.py (`qwen…`: Qwen 2 and Qwen 3) write into the model
/// tests' fixtures, for every test target that trains or adapts a model.
public enum TinyModels {
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("CRMAModelTests/Fixtures/tiny")
    }()

    public static func load(_ name: String) throws -> LanguageModel {
        let family = ["gemma", "qwen"].first { name.hasPrefix($0) }
        let dir = family.map { root.deletingLastPathComponent().appendingPathComponent("tiny-\($0)") } ?? root
        return try LanguageModel.load(path: dir.appendingPathComponent(name).path)
    }
}
