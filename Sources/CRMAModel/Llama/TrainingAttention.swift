import CRMANumerics

/// Per-worker scratch memory for training attention, allocated once and reused (fresh large blocks
/// would be page-faulted and zero-filled by the kernel on every call).
final class AttentionScratch {
    private var buffers: [[FloatBuffer]] = []
    private var size = 0

    /// Three buffers per worker: a transposed K or V `[headDim × T]`, and a `[64 × T]` block.
    func prepare(workers: Int, headDim: Int, seqLen: Int) {
        let need = max(headDim, TrainingAttention.blockRows) * seqLen
        if buffers.count >= workers, size >= need { return }
        size = need
        buffers = (0..<workers).map { _ in (0..<3).map { _ in FloatBuffer(count: need) } }
    }

    func pointers(_ worker: Int) -> (SendablePointer<Float>, SendablePointer<Float>, SendablePointer<Float>) {
        let b = buffers[worker]
        return (SendablePointer(b[0].pointer), SendablePointer(b[1].pointer), SendablePointer(b[2].pointer))
    }
}

/// Attention for training: keeps the probabilities for the backward pass and masks by document
/// segment (a token attends to `segmentStart…itself` of its row), so packed documents never see
/// each other. Query blocks of 64 rows touch only the keys they may attend to, which halves the work
/// of full square products. Work is split by (row, kv-head group), so gradient accumulation into a
/// group's keys and values never races. Products run in `SmallGemm` (deterministic, independent of
/// BLAS threads).
enum TrainingAttention {
    static let blockRows = 64

    /// `probs` is `[batch × heads × T × T]` (zero above the diagonal); `out` is `[batch·T × heads·headDim]`.
    static func forward(
        config c: LlamaConfig, batch b: TrainingBatch, qkv: UnsafeMutablePointer<Float>,
        probs: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>, scratch: AttentionScratch
    ) {
        let T = b.seqLen, hd = c.headDim, group = c.heads / c.kvHeads
        let qp = SendablePointer(qkv), pp = SendablePointer(probs), op = SendablePointer(out)
        let starts = b.segmentStarts, qkvSize = c.qkvSize, qSize = c.qSize, kvSize = c.kvSize, heads = c.heads
        let kvHeads = c.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        run(jobs: b.batch * kvHeads, scratch: scratch, headDim: hd, seqLen: T) { job, w in
            let row0 = job / kvHeads, g = job % kvHeads
            let base = qp.p + row0 * T * qkvSize
            let k = base + qSize + g * hd, v = base + qSize + kvSize + g * hd
            let kT = scratch.pointers(w).0.p
            SmallGemm.transpose(k, rows: T, cols: hd, ld: qkvSize, into: kT)
            for h in (g * group)..<((g + 1) * group) {
                let p = pp.p + (row0 * heads + h) * T * T
                var q0 = 0
                while q0 < T {
                    let rows = min(blockRows, T - q0), keys = q0 + rows
                    SmallGemm.nn(
                        m: rows, n: keys, k: hd, alpha: scale, a: base + q0 * qkvSize + h * hd, lda: qkvSize, b: kT,
                        ldb: T,
                        c: p + q0 * T, ldc: T)
                    for t in q0..<keys {
                        let st = Int(starts[row0 * T + t])
                        let r = p + t * T
                        Kernels.softmaxRow(r + st, n: t - st + 1, width: T - st)
                        if st > 0 { r.initialize(repeating: 0, count: st) }
                    }
                    SmallGemm.nn(
                        m: rows, n: hd, k: keys, a: p + q0 * T, lda: T, b: v, ldb: qkvSize,
                        c: op.p + (row0 * T + q0) * qSize + h * hd, ldc: qSize)
                    q0 += rows
                }
            }
        }
    }

    /// Given `dOut` (`[batch·T × heads·headDim]`), writes `dQKV` (`[batch·T × qkvSize]`, before the
    /// inverse rotation).
    static func backward(
        config c: LlamaConfig, batch b: TrainingBatch, qkv: UnsafeMutablePointer<Float>,
        probs: UnsafeMutablePointer<Float>,
        dOut: UnsafeMutablePointer<Float>, dQKV: UnsafeMutablePointer<Float>, scratch: AttentionScratch
    ) {
        let T = b.seqLen, hd = c.headDim, group = c.heads / c.kvHeads
        let qp = SendablePointer(qkv), pp = SendablePointer(probs), dop = SendablePointer(dOut)
        let dqp = SendablePointer(dQKV)
        let qkvSize = c.qkvSize, qSize = c.qSize, kvSize = c.kvSize, heads = c.heads, kvHeads = c.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        run(jobs: b.batch * kvHeads, scratch: scratch, headDim: hd, seqLen: T) { job, w in
            let row0 = job / kvHeads, g = job % kvHeads
            let base = qp.p + row0 * T * qkvSize, dBase = dqp.p + row0 * T * qkvSize
            let k = base + qSize + g * hd, v = base + qSize + kvSize + g * hd
            let dk = dBase + qSize + g * hd, dv = dBase + qSize + kvSize + g * hd
            for t in 0..<T {
                (dk + t * qkvSize).initialize(repeating: 0, count: hd)
                (dv + t * qkvSize).initialize(repeating: 0, count: hd)
            }
            let (vTp, dPp, _) = scratch.pointers(w)
            let vT = vTp.p, dP = dPp.p
            SmallGemm.transpose(v, rows: T, cols: hd, ld: qkvSize, into: vT)
            for h in (g * group)..<((g + 1) * group) {
                let p = pp.p + (row0 * heads + h) * T * T
                let q = base + h * hd, dO = dop.p + row0 * T * qSize + h * hd, dq = dBase + h * hd
                var q0 = 0
                while q0 < T {
                    let rows = min(blockRows, T - q0), keys = q0 + rows
                    let pBlock = p + q0 * T
                    // dP = dO·Vᵀ ; dV += Pᵀ·dO
                    SmallGemm.nn(
                        m: rows, n: keys, k: hd, a: dO + q0 * qSize, lda: qSize, b: vT, ldb: T, c: dP, ldc: keys)
                    SmallGemm.tn(
                        m: keys, n: hd, k: rows, a: pBlock, lda: T, b: dO + q0 * qSize, ldb: qSize, c: dv, ldc: qkvSize,
                        accumulate: true)
                    // dS = P ⊙ (dP − Σ P⊙dP), zero above the diagonal.
                    for i in 0..<rows {
                        let t = q0 + i
                        BackwardKernels.softmaxRow(p: pBlock + i * T, dP: dP + i * keys, n: t + 1)
                        if t + 1 < keys { (dP + i * keys + t + 1).initialize(repeating: 0, count: keys - t - 1) }
                    }
                    // dQ = scale·dS·K ; dK += scale·dSᵀ·Q
                    SmallGemm.nn(
                        m: rows, n: hd, k: keys, alpha: scale, a: dP, lda: keys, b: k, ldb: qkvSize,
                        c: dq + q0 * qkvSize,
                        ldc: qkvSize)
                    SmallGemm.tn(
                        m: keys, n: hd, k: rows, alpha: scale, a: dP, lda: keys, b: q + q0 * qkvSize, ldb: qkvSize,
                        c: dk,
                        ldc: qkvSize, accumulate: true)
                    q0 += rows
                }
            }
        }
    }

    /// Runs `jobs` independent jobs spread over the cores; `body(job, worker)`.
    private static func run(
        jobs: Int, scratch: AttentionScratch, headDim: Int, seqLen: Int, _ body: @Sendable (Int, Int) -> Void
    ) {
        let workers = min(Parallel.cores, jobs)
        scratch.prepare(workers: workers, headDim: headDim, seqLen: seqLen)
        Parallel.forEach(workers) { w in
            var j = w
            while j < jobs {
                body(j, w)
                j += workers
            }
        }
    }
}

/// - Important: shared across `concurrentPerform` workers, each of which only touches its own buffers.
extension AttentionScratch: @unchecked Sendable {}
