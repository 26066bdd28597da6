import Foundation
import CRMAModel

/// The tiny random models that scripts/fixtures/make_tiny_models.py writes into the model tests' fixtures.
enum TinyModels {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("CRMAModelTests/Fixtures/tiny")
    }()

    static func load(_ name: String) throws -> LanguageModel {
        try LanguageModel.load(path: root.appendingPathComponent(name).path)
    }
}
