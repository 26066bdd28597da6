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
        _ = pass.forward(b)
        return positions.map { -pass.lastTokenLosses[$0] }
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
        let pass = LlamaTrainingPass(model: model, hooks: hooks)
        var right = 0, rightNorm = 0
        for item in items {
            let ctx = tokenizer.encode(item.context, addBOS: false)
            var best = (-Double.infinity, -1), bestNorm = (-Double.infinity, -1)
            for (c, choice) in item.choices.enumerated() {
                let cont = tokenizer.encode(choice, addBOS: false)
                let input = Array((ctx + cont).dropLast().suffix(context))
                // A choice longer than the window is scored on the tokens that fit (its last ones).
                let scored = min(cont.count, input.count), start = input.count - scored
                let ll = logProbs(
                    input, positions: (0..<scored).map { start + $0 }, targets: Array(cont.suffix(scored)), pass: pass
                ).reduce(0, +)
                if ll > best.0 { best = (ll, c) }
                let norm = ll / Double(max(choice.utf8.count, 1))
                if norm > bestNorm.0 { bestNorm = (norm, c) }
            }
            if best.1 == item.gold { right += 1 }
            if bestNorm.1 == item.gold { rightNorm += 1 }
        }
        return (Double(right) / Double(max(items.count, 1)), Double(rightNorm) / Double(max(items.count, 1)))
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
