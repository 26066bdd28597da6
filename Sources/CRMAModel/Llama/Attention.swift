import CRMANumerics

/// Grouped-query causal self-attention over a fused q|k|v activation.
enum Attention {
    /// For each sequence and head: `softmax(Q Kᵀ / √headDim + causal mask) V`, written to
    /// `out[batch·seqLen × heads·headDim]`. Keys and values come from `qkv` (no cache) or from `cache`
    /// after the new rows are appended to it.
    static func causal(
        config c: LlamaConfig, qkv: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, cache: KVCache?, layer: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        let hd = c.headDim, group = c.heads / c.kvHeads
        let past = cache?.length ?? 0
        let keyCount = past + seqLen
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
        let scale = 1 / Float(hd).squareRoot()
        let blockRows = 64
        // One job per (sequence, head): with one sequence, 9 heads balance over two cores far better than
        // 3 kv-head groups would; re-building Kᵀ for each head of a group costs far less than that imbalance.
        let jobs = batch * c.heads
        let workers = min(Parallel.cores, jobs)
        let q = SendablePointer(qkv), kp = SendablePointer(kBase), vp = SendablePointer(vBase), o = SendablePointer(out)
        let qkvSize = c.qkvSize, qSize = c.qSize, heads = c.heads
        let ldKV = kvStride, cached = cache != nil
        Parallel.forEach(workers) { w in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: min(blockRows, seqLen) * keyCount)
            let kT = UnsafeMutablePointer<Float>.allocate(capacity: hd * keyCount)
            defer { scores.deallocate(); kT.deallocate() }
            var job = w
            while job < jobs {
                let b = job / heads, h = job % heads, g = h / group
                let qh = q.p + b * seqLen * qkvSize + h * hd
                let kvRow = cached ? 0 : b * seqLen
                let kh = kp.p + kvRow * ldKV + g * hd
                let vh = vp.p + kvRow * ldKV + g * hd
                SmallGemm.transpose(kh, rows: keyCount, cols: hd, ld: ldKV, into: kT)  // [headDim × keys]
                // Query blocks of 64 rows read only the keys they may attend to (causal), which halves the
                // work of a full square score matrix.
                var q0 = 0
                while q0 < seqLen {
                    let rows = min(blockRows, seqLen - q0)
                    let keys = past + q0 + rows
                    SmallGemm.nn(
                        m: rows, n: keys, k: hd, alpha: scale, a: qh + q0 * qkvSize, lda: qkvSize, b: kT, ldb: keyCount,
                        c: scores, ldc: keys)
                    for t in 0..<rows {
                        Kernels.softmaxRow(scores + t * keys, n: past + q0 + t + 1, width: keys)
                    }
                    SmallGemm.nn(
                        m: rows, n: hd, k: keys, a: scores, lda: keys, b: vh, ldb: ldKV,
                        c: o.p + (b * seqLen + q0) * qSize + h * hd, ldc: qSize)
                    q0 += rows
                }
                job += workers
            }
        }
    }
}
