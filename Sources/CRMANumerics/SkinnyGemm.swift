/// Products with one small dimension — an adapter's rank, CRMA's streams — between a tall activation
/// `x[rows × k]` and a short, wide matrix `w[r × k]` (both row-major, `w` contiguous).
///
/// OpenBLAS packs both operands of every call and wakes its threads for work this small: the adapters'
/// share of a training step measured 2–7 × their arithmetic, and varied with whatever ran before them.
/// These kernels read each activation row once, split rows (or, for the reductions over rows, columns)
/// over the cores, and compute every element as the same sequential chain whatever the split, so the
/// result does not depend on the number of cores.
public enum SkinnyGemm {
    public typealias V = Kernels.V

    /// `out[rows × r] = alpha · x·wᵀ`; `x` has row stride `ldx`, `out` row stride `r`.
    public static func down(
        rows: Int, k: Int, r: Int, alpha: Float = 1, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), wp = SendablePointer(UnsafeMutablePointer(mutating: w))
        let op = SendablePointer(out)
        Parallel.rows(rows, minRows: 32) { range in
            for i in range { downRow(k: k, r: r, alpha: alpha, x: xp.p + i * ldx, w: wp.p, into: op.p + i * r) }
        }
    }

    /// `y[rows × k] = alpha · u·w`, or `y += alpha · u·w` when `accumulate`; `u` has row stride `r`, `y` row
    /// stride `ldy`.
    public static func up(
        rows: Int, k: Int, r: Int, alpha: Float = 1, u: UnsafePointer<Float>, w: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
    ) {
        let up = SendablePointer(UnsafeMutablePointer(mutating: u)), wp = SendablePointer(UnsafeMutablePointer(mutating: w))
        let yp = SendablePointer(y)
        Parallel.rows(rows, minRows: 32) { range in
            for i in range {
                upRow(k: k, r: r, alpha: alpha, u: up.p + i * r, w: wp.p, into: yp.p + i * ldy, accumulate: accumulate)
            }
        }
    }

    /// `y[rows × k] += alpha · u·wᵀ` with `w` given as `[k × r]` (a LoRA B in PEFT's layout): one short dot
    /// product per output, for the few rows of a decoding step, where transposing `w` for ``up`` would
    /// cost as much as the product itself. Runs on the calling thread.
    public static func upTransposed(
        rows: Int, k: Int, r: Int, alpha: Float = 1, u: UnsafePointer<Float>, wT: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        for i in 0..<rows {
            let ui = u + i * r, yi = y + i * ldy
            for o in 0..<k {
                var s: Float = 0
                for j in 0..<r { s += ui[j] * wT[o * r + j] }
                yi[o] += alpha * s
            }
        }
    }

    /// `g[r × k] += alpha · uᵀ·x` (a weight gradient: the sum over rows of outer products); `u` has row
    /// stride `r`, `x` row stride `ldx`. Columns are split over the cores in blocks of 16, each summed over
    /// all rows in order.
    public static func accumulateOuter(
        rows: Int, k: Int, r: Int, alpha: Float = 1, u: UnsafePointer<Float>, x: UnsafePointer<Float>, ldx: Int,
        into g: UnsafeMutablePointer<Float>
    ) {
        let up = SendablePointer(UnsafeMutablePointer(mutating: u)), xp = SendablePointer(UnsafeMutablePointer(mutating: x))
        let gp = SendablePointer(g)
        let blocks = (k + V.scalarCount - 1) / V.scalarCount
        let workers = min(Parallel.cores, max(1, blocks / 4))
        Parallel.forEach(workers) { wkr in
            let lo = blocks * wkr / workers, hi = blocks * (wkr + 1) / workers
            for b in lo..<hi {
                outerBlock(
                    rows: rows, k: k, r: r, alpha: alpha, u: up.p, x: xp.p, ldx: ldx, column: b * V.scalarCount, into: gp.p)
            }
        }
    }

    /// `g[k × r] += alpha · xᵀ·u`: ``accumulateOuter(rows:k:r:alpha:u:x:ldx:into:)`` for a gradient held
    /// the other way round (a LoRA B, a CRMA read projection), summed into `scratch` (`r × k` floats) and
    /// added transposed.
    public static func accumulateOuterTransposed(
        rows: Int, k: Int, r: Int, alpha: Float = 1, u: UnsafePointer<Float>, x: UnsafePointer<Float>, ldx: Int,
        into g: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        scratch.initialize(repeating: 0, count: r * k)
        accumulateOuter(rows: rows, k: k, r: r, alpha: alpha, u: u, x: x, ldx: ldx, into: scratch)
        for t in 0..<k { for j in 0..<r { g[t * r + j] += scratch[j * k + t] } }
    }

    /// `out[j] = alpha · ⟨x, w_j⟩` for the `r` rows of `w`, four at a time so each load of `x` serves four.
    @inlinable
    static func downRow(
        k: Int, r: Int, alpha: Float, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        let k16 = k - k % V.scalarCount
        var j = 0
        while j < r {
            let group = min(4, r - j)
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            let w0 = w + j * k, w1 = w + min(j + 1, r - 1) * k, w2 = w + min(j + 2, r - 1) * k,
                w3 = w + min(j + 3, r - 1) * k
            var c = 0
            while c < k16 {
                let xv = Kernels.load(x + c)
                a0 += xv * Kernels.load(w0 + c)
                a1 += xv * Kernels.load(w1 + c)
                a2 += xv * Kernels.load(w2 + c)
                a3 += xv * Kernels.load(w3 + c)
                c += V.scalarCount
            }
            func finish(_ q: Int, _ sum: Float, _ wq: UnsafePointer<Float>) {
                var s = sum
                for t in k16..<k { s += x[t] * wq[t] }
                out[j + q] = alpha * s
            }
            finish(0, a0.sum(), w0)
            if group > 1 { finish(1, a1.sum(), w1) }
            if group > 2 { finish(2, a2.sum(), w2) }
            if group > 3 { finish(3, a3.sum(), w3) }
            j += group
        }
    }

    /// `y (+)= Σ_j (alpha·u_j) · w_j`, sixteen columns at a time.
    @inlinable
    static func upRow(
        k: Int, r: Int, alpha: Float, u: UnsafePointer<Float>, w: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let k16 = k - k % V.scalarCount
        var c = 0
        while c < k16 {
            var acc = accumulate ? Kernels.load(y + c) : V()
            for j in 0..<r { acc += V(repeating: alpha * u[j]) * Kernels.load(w + j * k + c) }
            Kernels.store(acc, y + c)
            c += V.scalarCount
        }
        for t in k16..<k {
            var s: Float = accumulate ? y[t] : 0
            for j in 0..<r { s += alpha * u[j] * w[j * k + t] }
            y[t] = s
        }
    }

    /// Columns `column..<column + 16` (fewer at the end) of `g += alpha · uᵀ·x`, four rows of `g` at a time.
    @inlinable
    static func outerBlock(
        rows: Int, k: Int, r: Int, alpha: Float, u: UnsafePointer<Float>, x: UnsafePointer<Float>, ldx: Int,
        column c: Int, into g: UnsafeMutablePointer<Float>
    ) {
        guard c + V.scalarCount <= k else {
            // The last, narrower block: one pass over the rows, every (j, t) summed over them in order.
            let width = k - c
            var sums = [Float](repeating: 0, count: r * width)
            for i in 0..<rows {
                for j in 0..<r {
                    let uij = u[i * r + j]
                    for t in 0..<width { sums[j * width + t] += uij * x[i * ldx + c + t] }
                }
            }
            for j in 0..<r { for t in 0..<width { g[j * k + c + t] += alpha * sums[j * width + t] } }
            return
        }
        var j = 0
        while j < r {
            let group = min(4, r - j)
            let j1 = min(j + 1, r - 1), j2 = min(j + 2, r - 1), j3 = min(j + 3, r - 1)
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            for i in 0..<rows {
                let xv = Kernels.load(x + i * ldx + c), ui = u + i * r
                a0 += V(repeating: ui[j]) * xv
                a1 += V(repeating: ui[j1]) * xv
                a2 += V(repeating: ui[j2]) * xv
                a3 += V(repeating: ui[j3]) * xv
            }
            func add(_ q: Int, _ sum: V) {
                let gq = g + (j + q) * k + c
                Kernels.store(Kernels.load(gq) + alpha * sum, gq)
            }
            add(0, a0)
            if group > 1 { add(1, a1) }
            if group > 2 { add(2, a2) }
            if group > 3 { add(3, a3) }
            j += group
        }
    }
}
