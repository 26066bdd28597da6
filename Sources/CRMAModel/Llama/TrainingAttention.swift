import CRMANumerics

/// Per-worker scratch memory for training attention, allocated once and reused (fresh large blocks
/// would be page-faulted and zero-filled by the kernel on every call).
final class AttentionScratch {
    private var buffers: [[FloatBuffer]] = []
    private var size = 0

    /// Five buffers per worker, each `[max(headDim, 64) × T]`: transposed K and V, a block of 64 rows of
    /// probabilities, one of their gradients, and one of soft-capped scores (used only with soft-capping).
    func prepare(workers: Int, headDim: Int, seqLen: Int) {
        let need = max(headDim, TrainingAttention.blockRows) * seqLen
        if buffers.count >= workers, size >= need { return }
        size = need
        buffers = (0..<workers).map { _ in (0..<5).map { _ in FloatBuffer(count: need) } }
    }

    /// `(kT, vT, probabilities, gradient, capped scores)` of worker `worker`.
    func pointers(_ worker: Int) -> (
        kT: UnsafeMutablePointer<Float>, vT: UnsafeMutablePointer<Float>, p: UnsafeMutablePointer<Float>,
        dP: UnsafeMutablePointer<Float>, capped: UnsafeMutablePointer<Float>
    ) {
        let b = buffers[worker]
        return (b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer, b[4].pointer)
    }
}

/// Attention for training, masked by document segment (a token attends to `segmentStart…itself` of its
/// row), so packed documents never see each other, and on a sliding-window layer to its window too; scores
/// are scaled and soft-capped as the family says (``DecoderFamily``). The probabilities are not kept: the backward pass
/// recomputes each block of 64 query rows from q and k with the same arithmetic as the forward pass
/// (bit-identical), which trades a second Q·Kᵀ product for `batch × heads × T²` floats per layer
/// (283 MB at 4 × 256 tokens on SmolLM2-135M). Query blocks touch only the keys they may attend to, which
/// halves the work of full square products. Work is split by (row, kv-head group), so gradient
/// accumulation into a group's keys and values never races. Products run in `SmallGemm` (deterministic,
/// independent of BLAS threads).
enum TrainingAttention {
    static let blockRows = 64

    /// `out` is `[batch·T × heads·headDim]`.
    static func forward(
        config c: LlamaConfig, layer: Int, batch b: TrainingBatch, qkv: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>, scratch: AttentionScratch
    ) {
        let T = b.seqLen, hd = c.headDim, group = c.heads / c.kvHeads
        let qp = SendablePointer(qkv), op = SendablePointer(out)
        let qkvSize = c.qkvSize, qSize = c.qSize, kvSize = c.kvSize, kvHeads = c.kvHeads
        run(jobs: b.batch * kvHeads, scratch: scratch, headDim: hd, seqLen: T) { job, w in
            let row0 = job / kvHeads, g = job % kvHeads
            let base = qp.p + row0 * T * qkvSize
            let k = base + qSize + g * hd, v = base + qSize + kvSize + g * hd
            let s = scratch.pointers(w)
            SmallGemm.transpose(k, rows: T, cols: hd, ld: qkvSize, into: s.kT)
            for h in (g * group)..<((g + 1) * group) {
                var q0 = 0
                while q0 < T {
                    let rows = min(blockRows, T - q0), keys = q0 + rows
                    probabilities(
                        config: c, layer: layer, batch: b, row: row0, q: base + h * hd, kT: s.kT, firstQuery: q0,
                        rows: rows, into: s.p, capped: s.capped)
                    SmallGemm.nn(
                        m: rows, n: hd, k: keys, a: s.p, lda: T, b: v, ldb: qkvSize,
                        c: op.p + (row0 * T + q0) * qSize + h * hd, ldc: qSize)
                    q0 += rows
                }
            }
        }
    }

    /// Given the forward pass's `qkv` and `dOut` (`[batch·T × heads·headDim]`), writes `dQKV`
    /// (`[batch·T × qkvSize]`, before the inverse rotation).
    static func backward(
        config c: LlamaConfig, layer: Int, batch b: TrainingBatch, qkv: UnsafeMutablePointer<Float>,
        dOut: UnsafeMutablePointer<Float>, dQKV: UnsafeMutablePointer<Float>, scratch: AttentionScratch
    ) {
        let T = b.seqLen, hd = c.headDim, group = c.heads / c.kvHeads
        let qp = SendablePointer(qkv), dop = SendablePointer(dOut)
        let dqp = SendablePointer(dQKV)
        let qkvSize = c.qkvSize, qSize = c.qSize, kvSize = c.kvSize, kvHeads = c.kvHeads
        let scale = c.attentionScale, softcap = c.family.attentionSoftcap
        run(jobs: b.batch * kvHeads, scratch: scratch, headDim: hd, seqLen: T) { job, w in
            let row0 = job / kvHeads, g = job % kvHeads
            let base = qp.p + row0 * T * qkvSize, dBase = dqp.p + row0 * T * qkvSize
            let k = base + qSize + g * hd, v = base + qSize + kvSize + g * hd
            let dk = dBase + qSize + g * hd, dv = dBase + qSize + kvSize + g * hd
            for t in 0..<T {
                (dk + t * qkvSize).initialize(repeating: 0, count: hd)
                (dv + t * qkvSize).initialize(repeating: 0, count: hd)
            }
            let s = scratch.pointers(w)
            SmallGemm.transpose(k, rows: T, cols: hd, ld: qkvSize, into: s.kT)
            SmallGemm.transpose(v, rows: T, cols: hd, ld: qkvSize, into: s.vT)
            for h in (g * group)..<((g + 1) * group) {
                let q = base + h * hd, dO = dop.p + row0 * T * qSize + h * hd, dq = dBase + h * hd
                var q0 = 0
                while q0 < T {
                    let rows = min(blockRows, T - q0), keys = q0 + rows
                    probabilities(
                        config: c, layer: layer, batch: b, row: row0, q: q, kT: s.kT, firstQuery: q0, rows: rows,
                        into: s.p, capped: s.capped)
                    // dP = dO·Vᵀ ; dV += Pᵀ·dO
                    SmallGemm.nn(
                        m: rows, n: keys, k: hd, a: dO + q0 * qSize, lda: qSize, b: s.vT, ldb: T, c: s.dP, ldc: keys)
                    SmallGemm.tn(
                        m: keys, n: hd, k: rows, a: s.p, lda: T, b: dO + q0 * qSize, ldb: qSize, c: dv, ldc: qkvSize,
                        accumulate: true)
                    // dS = P ⊙ (dP − Σ P⊙dP), zero above the diagonal; through a soft-cap y = cap·tanh(s/cap),
                    // times dy/ds = 1 − (y/cap)².
                    for i in 0..<rows {
                        let t = q0 + i
                        BackwardKernels.softmaxRow(p: s.p + i * T, dP: s.dP + i * keys, n: t + 1)
                        if t + 1 < keys { (s.dP + i * keys + t + 1).initialize(repeating: 0, count: keys - t - 1) }
                        if let softcap {
                            let y = s.capped + i * T, d = s.dP + i * keys
                            for j in 0...t { d[j] *= 1 - (y[j] / softcap) * (y[j] / softcap) }
                        }
                    }
                    // dQ = scale·dS·K ; dK += scale·dSᵀ·Q
                    SmallGemm.nn(
                        m: rows, n: hd, k: keys, alpha: scale, a: s.dP, lda: keys, b: k, ldb: qkvSize,
                        c: dq + q0 * qkvSize, ldc: qkvSize)
                    SmallGemm.tn(
                        m: keys, n: hd, k: rows, alpha: scale, a: s.dP, lda: keys, b: q + q0 * qkvSize, ldb: qkvSize,
                        c: dk, ldc: qkvSize, accumulate: true)
                    q0 += rows
                }
            }
        }
    }

    /// The attention probabilities of query rows `firstQuery..<firstQuery + rows` of sequence `row` for the
    /// head whose queries start at `q` (stride qkvSize), against the transposed keys `kT` (`[headDim × T]`):
    /// `[rows × T]` into `p` (leading dimension T), zero outside each query's segment (and sliding window on
    /// such a layer) and above the diagonal. With soft-capping, the capped scores go to `capped` (same
    /// layout) for the backward pass. The forward and backward passes both call this, so their
    /// probabilities are identical.
    static func probabilities(
        config c: LlamaConfig, layer: Int, batch b: TrainingBatch, row: Int, q: UnsafePointer<Float>,
        kT: UnsafePointer<Float>, firstQuery q0: Int, rows: Int, into p: UnsafeMutablePointer<Float>,
        capped: UnsafeMutablePointer<Float>
    ) {
        let T = b.seqLen, keys = q0 + rows
        let window = c.window(layer: layer), softcap = c.family.attentionSoftcap
        SmallGemm.nn(
            m: rows, n: keys, k: c.headDim, alpha: c.attentionScale, a: q + q0 * c.qkvSize,
            lda: c.qkvSize, b: kT, ldb: T, c: p, ldc: T)
        b.segmentStarts.withUnsafeBufferPointer { starts in
            for i in 0..<rows {
                let t = q0 + i
                let st = max(Int(starts[row * T + t]), window.map { t - $0 + 1 } ?? 0)
                let r = p + i * T
                if let softcap {
                    Kernels.softcap(r + st, count: t - st + 1, cap: softcap)
                    (capped + i * T + st).update(from: r + st, count: t - st + 1)
                }
                Kernels.softmaxRow(r + st, n: t - st + 1, width: T - st)
                if st > 0 { r.initialize(repeating: 0, count: st) }
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
