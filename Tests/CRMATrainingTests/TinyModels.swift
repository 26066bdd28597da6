import CRMAModel
import CRMATraining
import Foundation

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

    /// A small deterministic corpus: a few short documents the tiny model can memorise.
    static func corpus(_ lm: LanguageModel) -> [TokenizedDocument] {
        [
            "The quick brown fox jumps over the lazy dog.",
            "Sinkhorn normalization makes the mixing matrix doubly stochastic.",
            "def add(a, b):\n    return a + b\n",
            "Continual learning without forgetting.",
        ].map { TokenizedDocument(tokens: lm.tokenizer.encode($0)) }
    }
}
