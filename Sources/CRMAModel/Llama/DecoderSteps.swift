import CRMANumerics

/// The steps of a decoder layer that depend on the family (``DecoderFamily``), shared by the inference
/// forward pass (``LlamaModel/hiddenStates(tokens:batch:seqLen:cache:workspace:adapters:clock:)``) and the
/// training pass.
extension LlamaModel {
    /// The rotary embedding of layer `l` (Gemma 3's sliding-window layers have their own base).
    public func rope(layer l: Int) -> RotaryEmbedding {
        if let slidingRope, config.family.isSliding(layer: l) { return slidingRope }
        return rope
    }

    /// The gated feed-forward activation: `act = f(gate) · up` for the `rows × 2F` gate|up activations.
    func gatedActivation(_ gu: UnsafePointer<Float>, rows: Int, into act: UnsafeMutablePointer<Float>) {
        switch config.family.activation {
        case .swiGLU: ParallelKernels.swiGLU(gu, rows: rows, ffn: config.ffnSize, into: act)
        case .geGLU: ParallelKernels.geGLU(gu, rows: rows, ffn: config.ffnSize, into: act)
        }
    }

    /// The gated activation's backward pass: `dGU` from `dAct`.
    func gatedActivationBackward(
        gu: UnsafePointer<Float>, dAct: UnsafePointer<Float>, rows: Int, dGU: UnsafeMutablePointer<Float>
    ) {
        switch config.family.activation {
        case .swiGLU: ParallelKernels.swiGLUBackward(gu: gu, dOut: dAct, rows: rows, ffn: config.ffnSize, dGU: dGU)
        case .geGLU: ParallelKernels.geGLUBackward(gu: gu, dOut: dAct, rows: rows, ffn: config.ffnSize, dGU: dGU)
        }
    }

    /// QK-norm of layer `l`, in place on the q and k heads of a fused `[rows × qkvSize]` activation: each
    /// head is RMS-normalized over its `headDim` values. `rstd` (optional, `[rows × (heads + kvHeads)]`)
    /// receives each head's reciprocal RMS. Does nothing where the family has no QK-norm.
    func qkNorm(_ qkv: UnsafeMutablePointer<Float>, rows: Int, layer l: Int, rstd: UnsafeMutablePointer<Float>? = nil) {
        guard config.family.qkNorm else { return }
        let c = config, w = weights.layers[l]
        let p = SendablePointer(qkv), rp = rstd.map { SendablePointer($0) }
        let qw = SendablePointer(w.qNorm.pointer), kw = SendablePointer(w.kNorm.pointer)
        let heads = c.heads, kvHeads = c.kvHeads, hd = c.headDim, stride = c.qkvSize, qSize = c.qSize
        let eps = c.rmsNormEps
        Parallel.rows(rows, minRows: 4) { range in
            for r in range {
                let row = p.p + r * stride, rs = rp.map { $0.p + r * (heads + kvHeads) }
                Kernels.rmsNorm(row, weight: qw.p, rows: heads, dim: hd, eps: eps, into: row, rstd: rs)
                Kernels.rmsNorm(
                    row + qSize, weight: kw.p, rows: kvHeads, dim: hd, eps: eps, into: row + qSize,
                    rstd: rs.map { $0 + heads })
            }
        }
    }

    /// Adds a block's output `branch` (`[rows × hidden]`) to the residual stream `x` through the block's
    /// sandwich norm `postNorm` (families with ``DecoderFamily/sandwichNorms``). The branch is normalized in
    /// place; `rstd` (optional, `[rows]`) receives the norm's reciprocal RMS.
    func addBranch(
        _ branch: UnsafeMutablePointer<Float>, postNorm: FloatBuffer, rows: Int, into x: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        let d = config.hiddenSize
        ParallelKernels.rmsNorm(
            branch, weight: postNorm.pointer, rows: rows, dim: d, eps: config.rmsNormEps, into: branch, rstd: rstd)
        let bp = SendablePointer(branch), xp = SendablePointer(x)
        Parallel.rows(rows, minRows: 16) { r in
            Kernels.add(bp.p + r.lowerBound * d, into: xp.p + r.lowerBound * d, r.count * d)
        }
    }

    /// `cap · tanh(logit / cap)` over `count` logits in place, where the family soft-caps its logits.
    func softcapLogits(_ logits: UnsafeMutablePointer<Float>, count: Int) {
        guard let cap = config.family.finalSoftcap else { return }
        Kernels.softcap(logits, count: count, cap: cap)
    }
}

extension LlamaModel {
    /// Where the family soft-caps its logits and `gradient` is wanted, a copy of a chunk's capped logits
    /// (`count` floats) for ``softcapLogitsBackward(_:capped:count:)``; nil otherwise.
    func keepCappedLogits(
        _ logits: UnsafePointer<Float>, count: Int, gradient: Bool, workspace ws: ForwardWorkspace
    ) -> FloatBuffer? {
        guard gradient, config.family.finalSoftcap != nil else { return nil }
        let kept = ws.buffer("cappedLogits", count)
        kept.pointer.update(from: logits, count: count)
        return kept
    }

    /// Turns the gradient w.r.t. soft-capped logits `y = cap · tanh(z / cap)` into the gradient w.r.t. `z`:
    /// times `1 − (y / cap)²`.
    func softcapLogitsBackward(_ gradient: UnsafeMutablePointer<Float>, capped y: FloatBuffer?, count: Int) {
        guard let y, let cap = config.family.finalSoftcap else { return }
        let inv = 1 / cap
        for i in 0..<count {
            let t = y.pointer[i] * inv
            gradient[i] *= 1 - t * t
        }
    }
}
