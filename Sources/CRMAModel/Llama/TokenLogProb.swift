import CRMANumerics

/// A token's log-probability given the tokens before it, and the most likely tokens at its position: what
/// OpenAI's `logprobs` report and what lm-evaluation-harness sums into a log-likelihood.
public struct TokenLogProb: Sendable, Equatable {
    /// One of the most likely tokens at a position.
    public struct Alternative: Sendable, Equatable {
        public var id: Int32
        public var logprob: Double

        public init(id: Int32, logprob: Double) {
            self.id = id
            self.logprob = logprob
        }
    }

    public var id: Int32
    /// Natural log, as the loss computes it (`row[id] − logsumexp(row)` in Float).
    public var logprob: Double
    /// The most likely tokens at this position, most likely first (ties: the lower id first); empty when
    /// none were asked for.
    public var top: [Alternative]

    public init(id: Int32, logprob: Double, top: [Alternative] = []) {
        self.id = id
        self.logprob = logprob
        self.top = top
    }

    /// `id`'s log-probability in one row of `vocab` logits, with the row's `top` most likely tokens.
    public init(_ id: Int32, logits row: UnsafePointer<Float>, vocab: Int, top k: Int) {
        let lse = Kernels.logSumExp(row, vocab)
        var best: [(id: Int, logit: Float)] = []
        if k > 0 {
            best.reserveCapacity(k + 1)
            for v in 0..<vocab {
                let x = row[v]
                if best.count == k, x <= best[k - 1].logit { continue }
                var i = best.count
                while i > 0, best[i - 1].logit < x { i -= 1 }
                best.insert((v, x), at: i)
                if best.count > k { best.removeLast() }
            }
        }
        self.init(
            id: id, logprob: Double(row[Int(id)] - lse),
            top: best.map { Alternative(id: Int32($0.id), logprob: Double($0.logit - lse)) })
    }
}

extension LlamaTrainingPass {
    /// Runs `b` through the scoring path (the pass training, the gate and the benchmarks score with) and
    /// returns, at every position whose target is not −1, the target's log-probability and the `top` most
    /// likely tokens there; nil at the other positions.
    public func tokenLogProbs(_ b: TrainingBatch, top: Int) -> [TokenLogProb?] {
        let hidden = forwardHidden(b)
        let V = model.config.vocabSize, d = model.config.hiddenSize, rows = b.targets.count
        var out = [TokenLogProb?](repeating: nil, count: rows)
        let chunk = Scorer.headChunkRows
        let logits = FloatBuffer(count: min(chunk, max(rows, 1)) * V)
        var r0 = 0
        while r0 < rows {
            let m = min(chunk, rows - r0)
            // Only the rows that are scored reach the head: the first and last of them bound the GEMM.
            if let first = (r0..<(r0 + m)).first(where: { b.targets[$0] >= 0 }),
                let last = (r0..<(r0 + m)).last(where: { b.targets[$0] >= 0 })
            {
                model.logits(hidden: hidden + first * d, rows: last - first + 1, into: logits.pointer)
                for r in first...last where b.targets[r] >= 0 {
                    out[r] = TokenLogProb(b.targets[r], logits: logits.pointer + (r - first) * V, vocab: V, top: top)
                }
            }
            r0 += m
        }
        return out
    }

    /// Each token of `ids` after the first, given the tokens before it, with the `top` most likely tokens at
    /// its position (`ids.count − 1` entries).
    public func tokenLogProbs(_ ids: [Int32], top: Int) -> [TokenLogProb] {
        guard ids.count > 1 else { return [] }
        var b = TrainingBatch.unscored(Array(ids.dropLast()))
        for i in 0..<(ids.count - 1) { b.targets[i] = ids[i + 1] }
        return tokenLogProbs(b, top: top).compactMap { $0 }
    }
}
