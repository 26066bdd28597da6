import CRMANumerics

/// Attention for training: keeps the probabilities for the backward pass and masks by document
/// segment (a token attends to `segmentStart…itself` of its row), so packed documents never see
/// each other. Work is split by (row, kv-head group), so gradient accumulation into a group's keys and
/// values never races.
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
            for h in (g * group)..<((g + 1) * group) {
                let p = pp.p + (row0 * heads + h) * T * T
                BLAS.sgemm(
                    transB: true, m: T, n: T, k: hd, alpha: scale, a: base + h * hd, lda: qkvSize, b: k, ldb: qkvSize,
                    c: p, ldc: T)
                for t in 0..<T {
                    let st = Int(starts[row0 * T + t])
                    let r = p + t * T
                    Kernels.softmaxRow(r + st, n: t - st + 1, width: T - st)
                    if st > 0 { r.initialize(repeating: 0, count: st) }
                }
                BLAS.sgemm(
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
            defer { dP.deallocate() }
            for h in (g * group)..<((g + 1) * group) {
                let p = pp.p + (row0 * heads + h) * T * T
                let dO = dop.p + row0 * T * qSize + h * hd
                // dP = dO · Vᵀ ; dV += Pᵀ · dO
                BLAS.sgemm(transB: true, m: T, n: T, k: hd, a: dO, lda: qSize, b: v, ldb: qkvSize, c: dP, ldc: T)
                BLAS.sgemm(
                    transA: true, m: T, n: hd, k: T, a: p, lda: T, b: dO, ldb: qSize, beta: 1, c: dv, ldc: qkvSize)
                for t in 0..<T { BackwardKernels.softmaxRow(p: p + t * T, dP: dP + t * T, n: t + 1) }
                for t in 0..<T where t + 1 < T { (dP + t * T + t + 1).initialize(repeating: 0, count: T - t - 1) }
                // dQ = dS · K · scale ; dK += dSᵀ · Q · scale
                BLAS.sgemm(
                    m: T, n: hd, k: T, alpha: scale, a: dP, lda: T, b: k, ldb: qkvSize, c: dBase + h * hd, ldc: qkvSize)
                BLAS.sgemm(
                    transA: true, m: T, n: hd, k: T, alpha: scale, a: dP, lda: T, b: base + h * hd, ldb: qkvSize,
                    beta: 1, c: dk, ldc: qkvSize)
            }
        }
    }

    /// Runs `jobs` independent jobs on two workers with single-threaded BLAS inside.
    private static func run(jobs: Int, _ body: @Sendable (Int) -> Void) {
        let workers = min(Parallel.cores, jobs)
        let threads = BLAS.threads
        if workers > 1 { BLAS.setThreads(1) }
        Parallel.forEach(workers) { w in
            var j = w
            while j < jobs {
                body(j)
                j += workers
            }
        }
        if workers > 1 { BLAS.setThreads(threads) }
    }
}
