import CRMANumerics

/// Attention for training: keeps the probabilities for the backward pass and masks by document
/// segment (a token attends to `segmentStart…itself` of its row), so packed documents never see
/// each other. Work is split by (row, kv-head group), so gradient accumulation into a group's keys and
/// values never races. Products run in `SmallGemm` (deterministic, independent of BLAS threads).
enum TrainingAttention {
    /// `probs` is `[batch × heads × T × T]`; `out` is `[batch·T × heads·headDim]`.
    static func forward(
        config c: LlamaConfig, batch b: TrainingBatch, qkv: UnsafeMutablePointer<Float>,
        probs: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) {
        let T = b.seqLen, hd = c.headDim, group = c.heads / c.kvHeads
        let qp = SendablePointer(qkv), pp = SendablePointer(probs), op = SendablePointer(out)
        let starts = b.segmentStarts, qkvSize = c.qkvSize, qSize = c.qSize, kvSize = c.kvSize, heads = c.heads
        let scale = 1 / Float(hd).squareRoot()
        run(jobs: b.batch * c.kvHeads) { job in
            let row0 = job / c.kvHeads, g = job % c.kvHeads
            let base = qp.p + row0 * T * qkvSize
            let k = base + qSize + g * hd, v = base + qSize + kvSize + g * hd
            let kT = UnsafeMutablePointer<Float>.allocate(capacity: hd * T)
            defer { kT.deallocate() }
            for j in 0..<T { for q in 0..<hd { kT[q * T + j] = k[j * qkvSize + q] } }
            for h in (g * group)..<((g + 1) * group) {
                let p = pp.p + (row0 * heads + h) * T * T
                SmallGemm.nn(
                    m: T, n: T, k: hd, alpha: scale, a: base + h * hd, lda: qkvSize, b: kT, ldb: T, c: p, ldc: T)
                for t in 0..<T {
                    let st = Int(starts[row0 * T + t])
                    let r = p + t * T
                    Kernels.softmaxRow(r + st, n: t - st + 1, width: T - st)
                    if st > 0 { r.initialize(repeating: 0, count: st) }
                }
                SmallGemm.nn(
                    m: T, n: hd, k: T, a: p, lda: T, b: v, ldb: qkvSize, c: op.p + row0 * T * qSize + h * hd, ldc: qSize
                )
            }
        }
    }

    /// Given `dOut` (`[batch·T × heads·headDim]`), writes `dQKV` (`[batch·T × qkvSize]`, before the
    /// inverse rotation).
    static func backward(
        config c: LlamaConfig, batch b: TrainingBatch, qkv: UnsafeMutablePointer<Float>,
        probs: UnsafeMutablePointer<Float>,
        dOut: UnsafeMutablePointer<Float>, dQKV: UnsafeMutablePointer<Float>
    ) {
        let T = b.seqLen, hd = c.headDim, group = c.heads / c.kvHeads
        let qp = SendablePointer(qkv), pp = SendablePointer(probs), dop = SendablePointer(dOut),
            dqp = SendablePointer(dQKV)
        let qkvSize = c.qkvSize, qSize = c.qSize, kvSize = c.kvSize, heads = c.heads
        let scale = 1 / Float(hd).squareRoot()
        run(jobs: b.batch * c.kvHeads) { job in
            let row0 = job / c.kvHeads, g = job % c.kvHeads
            let base = qp.p + row0 * T * qkvSize, dBase = dqp.p + row0 * T * qkvSize
            let k = base + qSize + g * hd, v = base + qSize + kvSize + g * hd
            let dk = dBase + qSize + g * hd, dv = dBase + qSize + kvSize + g * hd
            for t in 0..<T {
                (dk + t * qkvSize).initialize(repeating: 0, count: hd)
                (dv + t * qkvSize).initialize(repeating: 0, count: hd)
            }
            let dP = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
            let vT = UnsafeMutablePointer<Float>.allocate(capacity: hd * T)
            defer { dP.deallocate(); vT.deallocate() }
            for j in 0..<T { for q in 0..<hd { vT[q * T + j] = v[j * qkvSize + q] } }
            for h in (g * group)..<((g + 1) * group) {
                let p = pp.p + (row0 * heads + h) * T * T
                let dO = dop.p + row0 * T * qSize + h * hd
                // dP = dO · Vᵀ ; dV += Pᵀ · dO
                SmallGemm.nn(m: T, n: T, k: hd, a: dO, lda: qSize, b: vT, ldb: T, c: dP, ldc: T)
                SmallGemm.tn(m: T, n: hd, k: T, a: p, lda: T, b: dO, ldb: qSize, c: dv, ldc: qkvSize, accumulate: true)
                for t in 0..<T { BackwardKernels.softmaxRow(p: p + t * T, dP: dP + t * T, n: t + 1) }
                for t in 0..<T where t + 1 < T { (dP + t * T + t + 1).initialize(repeating: 0, count: T - t - 1) }
                // dQ = dS · K · scale ; dK += dSᵀ · Q · scale
                SmallGemm.nn(
                    m: T, n: hd, k: T, alpha: scale, a: dP, lda: T, b: k, ldb: qkvSize, c: dBase + h * hd, ldc: qkvSize)
                SmallGemm.tn(
                    m: T, n: hd, k: T, alpha: scale, a: dP, lda: T, b: base + h * hd, ldb: qkvSize, c: dk, ldc: qkvSize,
                    accumulate: true)
            }
        }
    }

    /// Runs `jobs` independent jobs spread over the cores.
    private static func run(jobs: Int, _ body: @Sendable (Int) -> Void) {
        let workers = min(Parallel.cores, jobs)
        Parallel.forEach(workers) { w in
            var j = w
            while j < jobs {
                body(j)
                j += workers
            }
        }
    }
}
