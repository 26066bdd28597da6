import CRMAModel
import CRMANumerics
import Foundation

/// A multiple-choice item scored by log-likelihood (lm-eval semantics): the context, the candidate
/// continuations (each with its leading space) and the index of the right one.
public struct MultipleChoiceItem: Sendable, Equatable, Codable {
    public var id: String
    public var context: String
    public var choices: [String]
    public var gold: Int
}

/// Scores of the general baseline benchmarks for one model state.
public struct GeneralScores: Sendable, Equatable, Codable {
    /// Bits per UTF-8 byte on the general text set.
    public var bitsPerByte: Double
    /// Multiple-choice accuracy by summed log-likelihood, and by log-likelihood per byte of the choice
    /// (lm-eval's `acc` and `acc_norm`), per task.
    public var accuracy: [String: Double]
    public var accuracyNorm: [String: Double]
}

/// The general baseline benchmarks (crma.md §6–7), scored through any adapter hooks: bits per byte,
/// multiple-choice accuracy, and the distribution shift against the base model on a probe set.
public struct GeneralBenchmarks {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    /// Context window for text scoring.
    public let context: Int

    public init(model: LlamaModel, tokenizer: Tokenizer, context: Int = 256) {
        self.model = model
        self.tokenizer = tokenizer
        self.context = context
    }

    /// Log-probabilities of `targets[i]` at `positions[i]` of `input`, under the pass's adapters.
    func logProbs(_ input: [Int32], positions: [Int], targets: [Int32], pass: LlamaTrainingPass) -> [Double] {
        var b = TrainingBatch.unscored(input)
        for (p, t) in zip(positions, targets) { b.targets[p] = t }
        let scored = pass.tokenLogProbs(b, top: 0)
        return positions.map { scored[$0]!.logprob }
    }

    /// Bits per byte of `documents` with lm-eval rolling windows of `context`.
    public func bitsPerByte(_ documents: [String], hooks: (any LlamaAdapterHooks)?) -> Double {
        let pass = LlamaTrainingPass(model: model, hooks: hooks)
        let prefix = tokenizer.bosID ?? tokenizer.eosID ?? 0
        var nll = 0.0, bytes = 0
        for doc in documents {
            let ids = tokenizer.encode(doc, addBOS: false)
            for w in RollingWindows.make(tokens: ids, prefix: prefix, maxLength: context) {
                let offset = w.input.count - w.predicted.count
                nll -= logProbs(
                    w.input, positions: (0..<w.predicted.count).map { offset + $0 }, targets: w.predicted, pass: pass
                ).reduce(0, +)
            }
            bytes += doc.utf8.count
        }
        return nll / Foundation.log(2) / Double(max(bytes, 1))
    }

    /// (acc, acc_norm) over `items`.
    public func multipleChoice(_ items: [MultipleChoiceItem], hooks: (any LlamaAdapterHooks)?) -> (Double, Double) {
        Self.accuracy(items, logLikelihoods: multipleChoiceLogLikelihoods(items, hooks: hooks))
    }

    /// (acc, acc_norm) of `items` from each choice's log-likelihood (``multipleChoiceLogLikelihoods``): the
    /// pick by summed log-likelihood, and by log-likelihood per UTF-8 byte of the choice.
    public static func accuracy(_ items: [MultipleChoiceItem], logLikelihoods scored: [[Double]]) -> (Double, Double) {
        var right = 0, rightNorm = 0
        for (item, lls) in zip(items, scored) {
            if best(lls) == item.gold { right += 1 }
            let norms = zip(lls, item.choices).map { $0 / Double(max($1.utf8.count, 1)) }
            if best(norms) == item.gold { rightNorm += 1 }
        }
        return (Double(right) / Double(max(items.count, 1)), Double(rightNorm) / Double(max(items.count, 1)))
    }

    /// Each choice's summed log-likelihood after its item's context (lm-eval's `loglikelihood` of a
    /// multiple-choice request), per item. A choice longer than the window is scored on the tokens that fit
    /// (its last ones).
    public func multipleChoiceLogLikelihoods(_ items: [MultipleChoiceItem], hooks: (any LlamaAdapterHooks)?) -> [[Double]] {
        let pass = LlamaTrainingPass(model: model, hooks: hooks)
        return items.map { item in
            let ctx = tokenizer.encode(item.context, addBOS: false)
            return item.choices.map { choice in
                let cont = tokenizer.encode(choice, addBOS: false)
                let input = Array((ctx + cont).dropLast().suffix(context))
                let scored = min(cont.count, input.count), start = input.count - scored
                return logProbs(
                    input, positions: (0..<scored).map { start + $0 }, targets: Array(cont.suffix(scored)), pass: pass
                ).reduce(0, +)
            }
        }
    }

    /// The index of the largest value (the first of equals), -1 for none.
    static func best(_ values: [Double]) -> Int {
        var best = (-Double.infinity, -1)
        for (i, v) in values.enumerated() where v > best.0 { best = (v, i) }
        return best.1
    }

    /// Mean KL(base ‖ current) in nats and top-1 agreement over every position of the probe texts.
    public func distributionShift(probes: [String], hooks: any LlamaAdapterHooks) -> (kl: Double, top1Agreement: Double)
    {
        let basePass = LlamaTrainingPass(model: model, hooks: nil), pass = LlamaTrainingPass(model: model, hooks: hooks)
        let V = model.config.vocabSize, d = model.config.hiddenSize
        var kl = 0.0, agree = 0, count = 0
        var p = [Float](repeating: 0, count: V), q = [Float](repeating: 0, count: V)
        for text in probes {
            let ids = Array(tokenizer.encode(text, addBOS: false).prefix(context))
            guard !ids.isEmpty else { continue }
            let T = ids.count
            let b = TrainingBatch.unscored(ids)
            _ = basePass.forward(b)
            _ = pass.forward(b)
            for t in 0..<T {
                p.withUnsafeMutableBufferPointer {
                    model.logits(hidden: basePass.finalHidden + t * d, rows: 1, into: $0.baseAddress!)
                }
                q.withUnsafeMutableBufferPointer {
                    model.logits(hidden: pass.finalHidden + t * d, rows: 1, into: $0.baseAddress!)
                }
                let lp = p.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, V) }
                let lq = q.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, V) }
                var s = 0.0
                var ap = 0, aq = 0
                for i in 0..<V {
                    let a = Double(p[i] - lp), bq = Double(q[i] - lq)
                    s += Foundation.exp(a) * (a - bq)
                    if p[i] > p[ap] { ap = i }
                    if q[i] > q[aq] { aq = i }
                }
                kl += s
                if ap == aq { agree += 1 }
                count += 1
            }
        }
        return (kl / Double(max(count, 1)), Double(agree) / Double(max(count, 1)))
    }
}
