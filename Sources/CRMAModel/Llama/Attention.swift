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
        let jobs = batch * c.heads
        let workers = min(2, jobs)
        let q = SendablePointer(qkv), kp = SendablePointer(kBase), vp = SendablePointer(vBase), o = SendablePointer(out)
        let qkvSize = c.qkvSize, qSize = c.qSize, heads = c.heads
        let ldKV = kvStride, cached = cache != nil
        let threads = BLAS.threads
        // Each worker runs single-threaded GEMMs over its share of (sequence, head) pairs.
        if workers > 1 { BLAS.setThreads(1) }
        Parallel.forEach(workers) { w in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: seqLen * keyCount)
            defer { scores.deallocate() }
            var job = w
            while job < jobs {
                let b = job / heads, h = job % heads, g = h / group
                let qh = q.p + b * seqLen * qkvSize + h * hd
                let kvRow = cached ? 0 : b * seqLen
                let kh = kp.p + kvRow * ldKV + g * hd
                let vh = vp.p + kvRow * ldKV + g * hd
                BLAS.sgemm(
                    transB: true, m: seqLen, n: keyCount, k: hd, alpha: scale, a: qh, lda: qkvSize, b: kh, ldb: ldKV,
                    c: scores, ldc: keyCount)
                for t in 0..<seqLen {
                    Kernels.softmaxRow(scores + t * keyCount, n: past + t + 1, width: keyCount)
                }
                BLAS.sgemm(
                    m: seqLen, n: hd, k: keyCount, a: scores, lda: keyCount, b: vh, ldb: ldKV,
                    c: o.p + b * seqLen * qSize + h * hd, ldc: qSize)
                job += workers
            }
        }
        if workers > 1 { BLAS.setThreads(threads) }
    }
}
