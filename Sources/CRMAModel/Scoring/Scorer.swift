import CRMANumerics
import Foundation

/// The result of scoring a document.
public struct DocumentScore: Sendable, Equatable, Codable {
    /// Tokens scored (every token of the document).
    public var tokens: Int
    /// UTF-8 bytes of the document.
    public var bytes: Int
    /// Σ −log p(token | context), in nats.
    public var sumNLL: Double

    public init(tokens: Int = 0, bytes: Int = 0, sumNLL: Double = 0) {
        self.tokens = tokens
        self.bytes = bytes
        self.sumNLL = sumNLL
    }

    /// Token-mean cross-entropy in nats.
    public var meanNLL: Double { tokens > 0 ? sumNLL / Double(tokens) : .nan }
    public var perplexity: Double { Foundation.exp(meanNLL) }
    /// Bits per UTF-8 byte: Σ NLL / ln 2 / bytes (tokenizer-independent).
    public var bitsPerByte: Double { bytes > 0 ? sumNLL / Foundation.log(2) / Double(bytes) : .nan }

    public static func + (a: DocumentScore, b: DocumentScore) -> DocumentScore {
        DocumentScore(tokens: a.tokens + b.tokens, bytes: a.bytes + b.bytes, sumNLL: a.sumNLL + b.sumNLL)
    }
}

/// Log-likelihood scoring with a language model. Holds reusable scratch memory: one scorer per thread.
public final class Scorer {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let workspace = ForwardWorkspace()
    /// When set, accumulates time per phase (benchmarks).
    public var clock: PhaseClock?

    public init(_ lm: LanguageModel) {
        model = lm.model
        tokenizer = lm.tokenizer
    }

    /// Rows of logits computed at once: bounds memory to `256 × vocab` floats (50 MB for SmolLM2).
    public static let headChunkRows = 256

    /// The token that starts a document for rolling scoring: BOS if the tokenizer has one, else EOS.
    public var prefixToken: Int32 { tokenizer.bosID ?? tokenizer.eosID ?? 0 }

    /// log p(input[i + 1] | input[...i]) for i in 0..<input.count−1 would be the usual form; here
    /// `targets[i]` is scored at position `offset + i`. Returns per-target log-probabilities.
    public func logProbabilities(input: [Int32], targets: [Int32], offset: Int) -> [Float] {
        precondition(offset + targets.count <= input.count)
        let h = model.hiddenStates(tokens: input, batch: 1, seqLen: input.count, workspace: workspace, clock: clock)
        return logProbabilities(hidden: h.pointer + offset * model.config.hiddenSize, targets: targets)
    }

    /// Log-probabilities of `targets[r]` under the head applied to hidden row `r`; the vocabulary
    /// projection runs in chunks so that at most 256 rows of logits exist at once.
    public func logProbabilities(hidden: UnsafePointer<Float>, targets: [Int32]) -> [Float] {
        LossHead.negativeLogLikelihoods(
            model: model, hidden: hidden, targets: targets, workspace: workspace, clock: clock
        )
        .map { Float(-$0) }
    }

    /// Scores a whole document with lm-eval `loglikelihood_rolling` semantics and windows of `context`.
    public func scoreDocument(_ text: String, context: Int) -> DocumentScore {
        let ids = tokenizer.encode(text, addBOS: false)
        var s = score(tokens: ids, context: context)
        s.bytes = text.utf8.count
        return s
    }

    /// Rolling-window score of a token sequence (bytes left 0).
    public func score(tokens ids: [Int32], context: Int) -> DocumentScore {
        var s = DocumentScore()
        for w in RollingWindows.make(tokens: ids, prefix: prefixToken, maxLength: context) {
            let lp = logProbabilities(input: w.input, targets: w.predicted, offset: w.input.count - w.predicted.count)
            s.tokens += lp.count
            s.sumNLL -= lp.reduce(0.0) { $0 + Double($1) }
        }
        return s
    }
}
