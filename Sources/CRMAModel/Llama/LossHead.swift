import CRMANumerics
import Foundation

/// Cross-entropy through the output head, in chunks of rows so full logits never exist at once.
enum LossHead {
    /// Mean cross-entropy over positions with `targets[r] >= 0`. With `gradient`, also writes
    /// d(mean loss)/d(hidden) `[rows × hidden]` (zero rows where no loss is taken).
    static func crossEntropy(
        model: LlamaModel, hidden: UnsafePointer<Float>, targets: [Int32], gradient: UnsafeMutablePointer<Float>?,
        workspace ws: ForwardWorkspace
    ) -> Double {
        let V = model.config.vocabSize, d = model.config.hiddenSize, rows = targets.count
        let counted = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        guard counted > 0 else {
            gradient?.initialize(repeating: 0, count: rows * d)
            return 0
        }
        let scale = 1 / Float(counted)
        let chunk = Scorer.headChunkRows
        let logits = ws.buffer("logits", min(chunk, rows) * V)
        var total = 0.0
        var r0 = 0
        while r0 < rows {
            let m = min(chunk, rows - r0)
            model.logits(hidden: hidden + r0 * d, rows: m, into: logits.pointer)
            let lp = SendablePointer(logits.pointer)
            let tg = Array(targets[r0..<(r0 + m)])
            let withGradient = gradient != nil
            var nll = [Double](repeating: 0, count: m)
            nll.withUnsafeMutableBufferPointer { nb in
                let np = SendablePointer(nb.baseAddress!)
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
                            // softmax − one-hot, scaled by 1/count.
                            Kernels.expShifted(row, V, shift: lse, scale: scale)
                            row[Int(t)] -= scale
                        }
                    }
                }
            }
            total += nll.reduce(0, +)
            if let gradient {
                // d hidden = d logits · E   ([m × V] · [V × d])
                BLAS.sgemm(
                    m: m, n: d, k: V, a: logits.pointer, lda: V, b: model.weights.outputHead.pointer, ldb: d,
                    c: gradient + r0 * d, ldc: d)
            }
            r0 += m
        }
        return total / Double(counted)
    }
}
