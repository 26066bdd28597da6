import CRMANumerics

/// Grouped-query causal self-attention over a fused q|k|v activation.
enum Attention {
    /// For each sequence and head: `softmax(Q Kᵀ · scale + causal mask) V`, written to
    /// `out[batch·seqLen × heads·headDim]`. Keys and values come from `qkv` (no cache) or from `cache`
    /// after the new rows are appended to it. The scale, a sliding window on `layer` and soft-capping of
    /// the scores come from the config's family (``DecoderFamily``).
    static func causal(
        config c: LlamaConfig, qkv: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, cache: KVCache?, layer: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        let hd = c.headDim, group = c.heads / c.kvHeads
        let past = cache?.length ?? 0
        let keyCount = past + seqLen
        let blockRows = 64
        var kBase = qkv + c.qSize, vBase = qkv + c.qSize + c.kvSize
        var kvStride = c.qkvSize
        if let cache {
            let k = cache.keys[layer].pointer, v = cache.values[layer].pointer
            for t in 0..<seqLen {
                (k + (past + t) * c.kvSize).update(from: qkv + t * c.qkvSize + c.qSize, count: c.kvSize)
                (v + (past + t) * c.kvSize).update(from: qkv + t * c.qkvSize + c.qSize + c.kvSize, count: c.kvSize)
            }
            kBase = k
            vBase = v
            kvStride = c.kvSize
        }
        let scale = c.attentionScale, window = c.window(layer: layer), softcap = c.family.attentionSoftcap
        if seqLen == 1, batch == 1 {
            decodeStep(
                config: c, q: qkv, keys: kBase, values: vBase, ld: kvStride, count: keyCount, window: window,
                scale: scale, into: out)
            return
        }
        // Jobs are (sequence, head, block of 64 query rows); a block reads only the keys it may attend to
        // (causal), which halves the work of a full square score matrix, so later blocks cost more. The
        // blocks are dealt to the cores longest first (one sequence has 9 heads: one job per head left a
        // core idle for a ninth of the time), and each core takes its share in (sequence, kv-head) order so
        // it transposes each group's keys once.
        let blocks = Array(stride(from: 0, to: seqLen, by: blockRows))
        let jobs = (0..<batch).flatMap { b in
            (0..<c.heads).flatMap { h in blocks.map { q0 in (b: b, h: h, q0: q0, rows: min(blockRows, seqLen - q0)) } }
        }
        let plan = Parallel.longestFirst(costs: jobs.map { Double(past + $0.q0 + $0.rows) }).map { $0.sorted() }
        let q = SendablePointer(qkv), kp = SendablePointer(kBase), vp = SendablePointer(vBase), o = SendablePointer(out)
        let qkvSize = c.qkvSize, qSize = c.qSize
        let ldKV = kvStride, cached = cache != nil
        Parallel.forEach(plan.count) { w in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: min(blockRows, seqLen) * keyCount)
            let kT = UnsafeMutablePointer<Float>.allocate(capacity: hd * keyCount)  // [headDim × keys]
            defer { scores.deallocate(); kT.deallocate() }
            var transposed: (b: Int, g: Int)? = nil
            for j in plan[w] {
                let (b, h, q0, rows) = jobs[j]
                let g = h / group, keys = past + q0 + rows
                let qh = q.p + b * seqLen * qkvSize + h * hd
                let kvRow = cached ? 0 : b * seqLen
                let kh = kp.p + kvRow * ldKV + g * hd
                let vh = vp.p + kvRow * ldKV + g * hd
                if transposed ?? (-1, -1) != (b, g) {
                    SmallGemm.transpose(kh, rows: keyCount, cols: hd, ld: ldKV, into: kT)
                    transposed = (b, g)
                }
                SmallGemm.nn(
                    m: rows, n: keys, k: hd, alpha: scale, a: qh + q0 * qkvSize, lda: qkvSize, b: kT, ldb: keyCount,
                    c: scores, ldc: keys)
                for t in 0..<rows {
                    let row = scores + t * keys, n = past + q0 + t + 1
                    Self.mask(row, keys: n, window: window, softcap: softcap)
                    Kernels.softmaxRow(row, n: n, width: keys)
                }
                SmallGemm.nn(
                    m: rows, n: hd, k: keys, a: scores, lda: keys, b: vh, ldb: ldKV,
                    c: o.p + (b * seqLen + q0) * qSize + h * hd, ldc: qSize)
            }
        }
    }

    /// Soft-caps the first `keys` scores of a query row (`cap · tanh(s / cap)`) and masks those before its
    /// sliding window (the last `window` keys, itself included), before the softmax.
    static func mask(_ row: UnsafeMutablePointer<Float>, keys: Int, window: Int?, softcap: Float?) {
        if let softcap { Kernels.softcap(row, count: keys, cap: softcap) }
        if let window, keys > window { row.update(repeating: -.infinity, count: keys - window) }
    }

    /// One new query row against `count` cached keys and values (decoding): per head, dot products with
    /// the keys as they lie in the cache, a softmax and a weighted sum of the values — no transposes, no
    /// job plan, the heads split between the cores only when there are enough keys to pay for it. With a
    /// `window`, only the last `window` keys count.
    static func decodeStep(
        config c: LlamaConfig, q: UnsafePointer<Float>, keys allKeys: UnsafePointer<Float>,
        values allValues: UnsafePointer<Float>, ld: Int, count allCount: Int, window: Int?, scale: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        let first = window.map { max(0, allCount - $0) } ?? 0
        let keys = allKeys + first * ld, values = allValues + first * ld, count = allCount - first
        let softcap = c.family.attentionSoftcap
        let hd = c.headDim, group = c.heads / c.kvHeads
        let qp = SendablePointer(UnsafeMutablePointer(mutating: q)), kp = SendablePointer(UnsafeMutablePointer(mutating: keys))
        let vp = SendablePointer(UnsafeMutablePointer(mutating: values)), o = SendablePointer(out)
        let heads = c.heads
        let workers = count * heads >= 4096 ? min(Parallel.cores, heads) : 1
        Parallel.forEach(workers) { w in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { scores.deallocate() }
            for h in stride(from: w, to: heads, by: workers) {
                let qh = qp.p + h * hd, g = h / group
                for t in 0..<count { scores[t] = scale * Kernels.dot(qh, kp.p + t * ld + g * hd, hd) }
                if let softcap { Kernels.softcap(scores, count: count, cap: softcap) }
                Kernels.softmaxRow(scores, n: count, width: count)
                let oh = o.p + h * hd
                oh.update(repeating: 0, count: hd)
                for t in 0..<count { Kernels.axpy(scores[t], vp.p + t * ld + g * hd, into: oh, hd) }
            }
        }
    }
}
