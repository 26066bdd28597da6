import CRMANumerics
import Foundation

/// Cross-entropy through the output head, in chunks of rows so full logits never exist at once.
enum LossHead {
    /// Per-row negative log-likelihood of `targets[r]` (0 where `targets[r] < 0`). With `gradient`, also
    /// writes `gradientScale · (softmax − one-hot)` projected back to hidden space, `[rows × hidden]`
    /// (zero rows where no loss is taken). `clock` separates the head GEMM from the log-softmax.
    static func negativeLogLikelihoods(
        model: LlamaModel, hidden: UnsafePointer<Float>, targets: [Int32], workspace ws: ForwardWorkspace,
        gradient: UnsafeMutablePointer<Float>? = nil, gradientScale: Float = 0, clock: PhaseClock? = nil
    ) -> [Double] {
        let V = model.config.vocabSize, d = model.config.hiddenSize, rows = targets.count
        let chunk = Scorer.headChunkRows
        let logits = ws.buffer("logits", min(chunk, max(rows, 1)) * V)
        var out = [Double](repeating: 0, count: rows)
        var r0 = 0
        while r0 < rows {
            let m = min(chunk, rows - r0)
            clock?.enter("head")
            model.logits(hidden: hidden + r0 * d, rows: m, into: logits.pointer)
            let capped = model.keepCappedLogits(logits.pointer, count: m * V, gradient: gradient != nil, workspace: ws)
            clock?.enter("log-softmax")
            let lp = SendablePointer(logits.pointer)
            let tg = Array(targets[r0..<(r0 + m)])
            let withGradient = gradient != nil
            out.withUnsafeMutableBufferPointer { nb in
                let np = SendablePointer(nb.baseAddress! + r0)
                Parallel.rows(m, minRows: 1) { range in
                    for r in range {
                        let row = lp.p + r * V
                        let t = tg[r]
                        if t < 0 {
                            if withGradient { row.initialize(repeating: 0, count: V) }
                            continue
                        }
                        let lse = Kernels.logSumExp(row, V)
                        np.p[r] = Double(lse - row[Int(t)])
                        if withGradient {
                            // softmax − one-hot, scaled.
                            Kernels.expShifted(row, V, shift: lse, scale: gradientScale)
                            row[Int(t)] -= gradientScale
                        }
                    }
                }
            }
            if let gradient {
                model.softcapLogitsBackward(logits.pointer, capped: capped, count: m * V)
                clock?.enter("head")
                // d hidden = d logits · E   ([m × V] · [V × d])
                model.headInputGradient(logits.pointer, rows: m, into: gradient + r0 * d)
            }
            r0 += m
        }
        clock?.stop()
        return out
    }

    /// Mean cross-entropy over positions with `targets[r] >= 0`, and the per-row values. With
    /// `gradient`, also writes d(mean loss)/d(hidden) `[rows × hidden]` (zero rows where no loss is taken).
    static func crossEntropy(
        model: LlamaModel, hidden: UnsafePointer<Float>, targets: [Int32], gradient: UnsafeMutablePointer<Float>?,
        workspace ws: ForwardWorkspace
    ) -> (mean: Double, perRow: [Double]) {
        let rows = targets.count
        let counted = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        guard counted > 0 else {
            gradient?.initialize(repeating: 0, count: rows * model.config.hiddenSize)
            return (0, [Double](repeating: 0, count: rows))
        }
        let nll = negativeLogLikelihoods(
            model: model, hidden: hidden, targets: targets, workspace: ws, gradient: gradient,
            gradientScale: 1 / Float(counted))
        return (nll.reduce(0, +) / Double(counted), nll)
    }
}
