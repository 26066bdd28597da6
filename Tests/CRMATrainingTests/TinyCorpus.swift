import CRMAModel
import CRMATestSupport
import CRMATraining

extension TinyModels {
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
