import CRMAModel
import Foundation

/// The tiny random models that scripts/fixtures/make_tiny_models.py writes into the model tests'
/// fixtures, for every test target that trains or adapts a model.
public enum TinyModels {
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("CRMAModelTests/Fixtures/tiny")
    }()

    public static func load(_ name: String) throws -> LanguageModel {
        try LanguageModel.load(path: root.appendingPathComponent(name).path)
    }
}
