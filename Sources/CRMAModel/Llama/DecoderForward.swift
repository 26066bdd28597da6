import CRMANumerics

/// How the decoder's attention sees positions: a continuation of cached sequences (inference, decoding)
/// or the rows of a training batch, each token at its own position and attending within its document.
enum DecoderAttention {
    /// `batch` sequences of `seqLen` tokens at positions `past ..< past + seqLen`, where `past` is the
    /// cache's length (0 without one); the new keys and values are appended to `cache` (batch 1 only).
    case causal(batch: Int, seqLen: Int, cache: KVCache?)
    /// A training batch: positions and document boundaries from `batch` (``TrainingAttention``).
    case training(TrainingBatch, AttentionScratch)
}

/// What a backward pass needs of the forward pass (``LlamaTrainingPass``): per layer the residual input,
/// q|k|v after the rotation, the attention output, the mid-layer residual and (unless ``keepsGateUp`` is
/// false) the gate|up pre-activations, the norms' reciprocal RMS, and per family what its extra steps
/// need; then the input of the final norm and its reciprocal RMS. Normalized inputs, the activation's
/// output and attention probabilities are not kept: the backward pass recomputes them.
final class DecoderActivations {
    struct Layer {
        let xIn: FloatBuffer, rstd1: FloatBuffer, qkv: FloatBuffer
        let attnOut: FloatBuffer, xMid: FloatBuffer, rstd2: FloatBuffer, gu: FloatBuffer
        /// QK-norm (empty without): q|k before the norm `[rows × (qSize + kvSize)]` and each head's
        /// reciprocal RMS `[rows × (heads + kvHeads)]`.
        let qkRaw: FloatBuffer, qkRstd: FloatBuffer
        /// Sandwich norms (empty without): each block's output before its norm `[rows × hidden]` and the
        /// norm's reciprocal RMS `[rows]`.
        let attnBranch: FloatBuffer, attnBranchRstd: FloatBuffer, ffnBranch: FloatBuffer, ffnBranchRstd: FloatBuffer
    }

    let rows: Int
    let layers: [Layer]
    /// The residual stream entering the final norm `[rows × hidden]`, and the norm's reciprocal RMS.
    let finalInput: FloatBuffer, finalRstd: FloatBuffer
    /// Whether each layer's gate|up pre-activations are kept (`2·ffn` floats a row, about three quarters of
    /// everything kept); without them the backward pass runs the gate|up GEMM again.
    let keepsGateUp: Bool

    init(config c: LlamaConfig, rows n: Int, keepsGateUp: Bool = true) {
        rows = n
        self.keepsGateUp = keepsGateUp
        let qk = c.family.qkNorm ? n : 0, sandwich = c.family.sandwichNorms ? n : 0
        layers = (0..<c.layers).map { _ in
            Layer(
                xIn: FloatBuffer(count: n * c.hiddenSize), rstd1: FloatBuffer(count: n),
                qkv: FloatBuffer(count: n * c.qkvSize), attnOut: FloatBuffer(count: n * c.qSize),
                xMid: FloatBuffer(count: n * c.hiddenSize), rstd2: FloatBuffer(count: n),
                gu: FloatBuffer(count: keepsGateUp ? n * 2 * c.ffnSize : 0),
                qkRaw: FloatBuffer(count: qk * (c.qSize + c.kvSize)), qkRstd: FloatBuffer(count: qk * (c.heads + c.kvHeads)),
                attnBranch: FloatBuffer(count: sandwich * c.hiddenSize), attnBranchRstd: FloatBuffer(count: sandwich),
                ffnBranch: FloatBuffer(count: sandwich * c.hiddenSize), ffnBranchRstd: FloatBuffer(count: sandwich))
        }
        finalInput = FloatBuffer(count: n * c.hiddenSize)
        finalRstd = FloatBuffer(count: n)
    }
}

/// The names under which the forward pass's time is accumulated in a ``PhaseClock`` (scoring reports
/// each step; training reports the forward pass in four parts).
struct DecoderPhases {
    var gemm: String, norm: String, rope: String, attention: String, adapters: String, activation: String

    static let inference = DecoderPhases(
        gemm: "gemm", norm: "norm", rope: "rope", attention: "attention", adapters: "adapters", activation: "swiglu")
    static let training = DecoderPhases(
        gemm: "forward.gemm", norm: "forward.elementwise", rope: "forward.elementwise", attention: "forward.attention",
        adapters: "forward.adapters", activation: "forward.elementwise")
    /// Forward steps the backward pass repeats (``DecoderActivations/keepsGateUp``), all under one name.
    static let recompute = DecoderPhases(
        gemm: "backward.recompute", norm: "backward.recompute", rope: "backward.recompute",
        attention: "backward.recompute", adapters: "backward.recompute", activation: "backward.recompute")
}

extension LlamaModel {
    /// The decoder, written once for every caller and family: from the embeddings of `tokens` through every
    /// layer to the final normed hidden states `[rows × hidden]`, returned in the workspace's `xn` buffer
    /// (overwritten by its next use).
    ///
    /// Each layer: RMSNorm → q|k|v [+ bias] (+ adapters) → [QK-norm] → rotation → attention → o (+ adapters)
    /// → [sandwich norm] + residual → RMSNorm → gate|up (+ adapters) → SwiGLU/GeGLU → down (+ adapters)
    /// → [sandwich norm] + residual → the residual adapter (CRMA). Bracketed steps are the family's
    /// (``DecoderFamily``). With `saved`, what the backward pass needs is kept there (``DecoderActivations``);
    /// the arithmetic is the same with or without it.
    func decoderForward(
        tokens: [Int32], attention: DecoderAttention, hooks: (any LlamaAdapterHooks)?, workspace ws: ForwardWorkspace,
        saved: DecoderActivations?, clock: PhaseClock?, phases: DecoderPhases
    ) -> FloatBuffer {
        let c = config, d = c.hiddenSize, n = tokens.count
        precondition(saved == nil || saved!.rows == n, "saved activations sized for another batch")
        let sandwich = c.family.sandwichNorms
        let x = ws.buffer("x", n * d), xn = ws.buffer("xn", n * d), act = ws.buffer("act", n * c.ffnSize)
        // Without a store, the per-layer activations live in the workspace and are overwritten layer by layer.
        let scratchQKV = ws.buffer("qkv", saved == nil ? n * c.qkvSize : 0)
        let scratchAttn = ws.buffer("attn", saved == nil ? n * c.qSize : 0)
        let scratchGU = ws.buffer("gu", saved?.keepsGateUp == true ? 0 : n * 2 * c.ffnSize)
        let branch = ws.buffer("branch", sandwich ? n * d : 0)
        func enter(_ phase: String) { clock?.enter(phase) }
        func adapters() { if hooks != nil { enter(phases.adapters) } }

        clock?.enter("embed")
        embed(tokens, into: x.pointer)
        for (l, w) in weights.layers.enumerated() {
            let s = saved?.layers[l]
            let qkv = s?.qkv.pointer ?? scratchQKV.pointer
            let attn = s?.attnOut.pointer ?? scratchAttn.pointer
            let gu = saved?.keepsGateUp == true ? s!.gu.pointer : scratchGU.pointer
            // Attention block.
            enter(phases.norm)
            if let s { s.xIn.pointer.update(from: x.pointer, count: n * d) }
            ParallelKernels.rmsNorm(
                x.pointer, weight: w.attnNorm.pointer, rows: n, dim: d, eps: c.rmsNormEps, into: xn.pointer,
                rstd: s?.rstd1.pointer)
            enter(phases.gemm)
            project(.qkv, layer: l, xn.pointer, rows: n, into: qkv)
            if c.family.qkvBias { addRowBias(w.qkvBias, rows: n, into: qkv) }
            adapters()
            hooks?.forward(
                [.q, .k, .v], layer: l, x: xn.pointer, rows: n, inFeatures: d, y: qkv, ldy: c.qkvSize,
                offsets: [0, c.qSize, c.qSize + c.kvSize], widths: [c.qSize, c.kvSize, c.kvSize])
            enter(phases.rope)
            if let s, c.family.qkNorm { copyQK(from: qkv, into: s.qkRaw.pointer, rows: n) }
            qkNorm(qkv, rows: n, layer: l, rstd: s?.qkRstd.pointer)
            switch attention {
            case .causal(let batch, let seqLen, let cache):
                rope(layer: l).applyToQK(
                    qkv, config: c, batch: batch, seqLen: seqLen, firstPosition: cache?.length ?? 0)
                enter(phases.attention)
                Attention.causal(config: c, qkv: qkv, batch: batch, seqLen: seqLen, cache: cache, layer: l, into: attn)
            case .training(let batch, let scratch):
                rope(layer: l).applyToQK(qkv, config: c, positions: batch.positions)
                enter(phases.attention)
                TrainingAttention.forward(config: c, layer: l, batch: batch, qkv: qkv, out: attn, scratch: scratch)
            }
            enter(phases.gemm)
            // Llama adds each block's output straight into the residual stream; Gemma norms it first.
            let attnOut = sandwich ? (s?.attnBranch.pointer ?? branch.pointer) : x.pointer
            project(.wo, layer: l, attn, rows: n, into: attnOut, accumulate: !sandwich)
            adapters()
            hooks?.forward(
                [.o], layer: l, x: attn, rows: n, inFeatures: c.qSize, y: attnOut, ldy: d, offsets: [0], widths: [d])
            if sandwich {
                enter(phases.norm)
                addBranch(attnOut, keep: s != nil, postNorm: w.postAttnNorm, rows: n, into: x, rstd: s?.attnBranchRstd, ws)
            }
            // MLP block.
            enter(phases.norm)
            if let s { s.xMid.pointer.update(from: x.pointer, count: n * d) }
            ParallelKernels.rmsNorm(
                x.pointer, weight: w.ffnNorm.pointer, rows: n, dim: d, eps: c.rmsNormEps, into: xn.pointer,
                rstd: s?.rstd2.pointer)
            gateUp(layer: l, xn.pointer, rows: n, hooks: hooks, into: gu, clock: clock, phases: phases)
            enter(phases.activation)
            gatedActivation(gu, rows: n, into: act.pointer)
            enter(phases.gemm)
            let ffnOut = sandwich ? (s?.ffnBranch.pointer ?? branch.pointer) : x.pointer
            project(.down, layer: l, act.pointer, rows: n, into: ffnOut, accumulate: !sandwich)
            adapters()
            hooks?.forward(
                [.down], layer: l, x: act.pointer, rows: n, inFeatures: c.ffnSize, y: ffnOut, ldy: d, offsets: [0],
                widths: [d])
            if sandwich {
                enter(phases.norm)
                addBranch(ffnOut, keep: s != nil, postNorm: w.postFFNNorm, rows: n, into: x, rstd: s?.ffnBranchRstd, ws)
            }
            adapters()
            hooks?.residualForward(layer: l, h: x.pointer, rows: n)
        }
        enter(phases.norm)
        if let saved { saved.finalInput.pointer.update(from: x.pointer, count: n * d) }
        ParallelKernels.rmsNorm(
            x.pointer, weight: weights.finalNorm.pointer, rows: n, dim: d, eps: c.rmsNormEps, into: xn.pointer,
            rstd: saved?.finalRstd.pointer)
        clock?.stop()
        return xn
    }

    /// The gate|up pre-activations `[rows × 2·ffn]` of layer `l` from its normed mid-layer input `xn`,
    /// adapters included: the forward pass's step, which the backward pass repeats when they were not kept.
    func gateUp(
        layer l: Int, _ xn: UnsafePointer<Float>, rows n: Int, hooks: (any LlamaAdapterHooks)?,
        into gu: UnsafeMutablePointer<Float>, clock: PhaseClock?, phases: DecoderPhases
    ) {
        let c = config
        clock?.enter(phases.gemm)
        project(.gateUp, layer: l, xn, rows: n, into: gu)
        if hooks != nil { clock?.enter(phases.adapters) }
        hooks?.forward(
            [.gate, .up], layer: l, x: xn, rows: n, inFeatures: c.hiddenSize, y: gu, ldy: 2 * c.ffnSize,
            offsets: [0, c.ffnSize], widths: [c.ffnSize, c.ffnSize])
    }

    /// Adds `bias` (`[width]`) to each of `rows` rows of `y` (`[rows × width]`).
    private func addRowBias(_ bias: FloatBuffer, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let width = bias.count, bp = SendablePointer(bias.pointer), yp = SendablePointer(y)
        Parallel.rows(rows, minRows: 16) { r in
            for row in r { Kernels.add(bp.p, into: yp.p + row * width, width) }
        }
    }

    /// Copies the q and k heads of a fused `[rows × qkvSize]` activation into `[rows × (qSize + kvSize)]`.
    private func copyQK(from qkv: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int) {
        let width = config.qSize + config.kvSize
        for r in 0..<rows { (out + r * width).update(from: qkv + r * config.qkvSize, count: width) }
    }

    /// Adds a block's output to the residual stream through its sandwich norm. With `keep`, the output is
    /// left as it was (the backward pass needs it before the norm: the norm runs on a copy) and the norm's
    /// reciprocal RMS goes to `rstd`.
    private func addBranch(
        _ out: UnsafeMutablePointer<Float>, keep: Bool, postNorm: FloatBuffer, rows n: Int, into x: FloatBuffer,
        rstd: FloatBuffer?, _ ws: ForwardWorkspace
    ) {
        guard keep else {
            addBranch(out, postNorm: postNorm, rows: n, into: x.pointer)
            return
        }
        let count = n * config.hiddenSize
        let copy = ws.buffer("branch", count)
        copy.pointer.update(from: out, count: count)
        addBranch(copy.pointer, postNorm: postNorm, rows: n, into: x.pointer, rstd: rstd?.pointer)
    }
}
