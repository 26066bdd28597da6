import CRMANumerics

/// The differentiable forward and backward pass of a frozen Llama model with adapters.
///
/// Gradients flow to the inputs of every op (through the frozen base) and to adapter parameters only;
/// base weights get none. Activations are planned: per layer it keeps the residual input, the fused
/// q|k|v after RoPE, the attention output, the mid-layer residual and the gate|up pre-activations, plus
/// two RMS factors per row; normalized inputs, the SwiGLU output and the attention probabilities are
/// recomputed in the backward pass instead of stored (``TrainingAttention``). With
/// ``keepsGateUp`` false, the gate|up pre-activations are recomputed too (one more GEMM per layer, for
/// about three quarters less memory kept).
///
/// - Important: one pass object per training thread; it owns its buffers and reuses them across steps.
public final class LlamaTrainingPass {
    public let model: LlamaModel
    public let hooks: (any LlamaAdapterHooks)?
    /// When set, accumulates time per phase.
    public var clock: PhaseClock?

    private let ws = ForwardWorkspace()
    private let attentionScratch = AttentionScratch()
    private var activations: DecoderActivations?
    private var batch: TrainingBatch?
    private var headGradientReady = false
    private var lastLoss = 0.0
    /// Per-position negative log-likelihood of the last `forward` (nats; 0 where the target is −1).
    public private(set) var lastTokenLosses: [Double] = []
    /// When set, the loss is the distillation objective against these teacher states instead of plain
    /// cross-entropy (see ``DistillationTarget``); it must match the shape of the next batch.
    public var distillation: DistillationTarget?
    /// The two terms of the last distilled loss (nil when the last loss was plain cross-entropy).
    public private(set) var lastDistillation: DistillationTerms?

    /// Whether the forward pass keeps each layer's gate|up pre-activations for the backward pass (else the
    /// backward pass runs the gate|up GEMM again, under the phase "backward.recompute"). Gradients are the
    /// same either way. Defaults to keeping them, except on a quantized base, whose point is memory: at
    /// Qwen2.5-Coder-1.5B they are 2.05 GB of a 4 × 256-token batch.
    public var keepsGateUp: Bool

    public init(model: LlamaModel, hooks: (any LlamaAdapterHooks)?) {
        self.model = model
        self.hooks = hooks
        keepsGateUp = model.precision != .quantized
    }

    /// The activations kept for a batch of `n` rows (reused while the batch size and what is kept stay
    /// the same).
    private func prepare(rows n: Int) -> DecoderActivations {
        if let a = activations, a.rows == n, a.keepsGateUp == keepsGateUp { return a }
        activations = nil
        let a = DecoderActivations(config: model.config, rows: n, keepsGateUp: keepsGateUp)
        activations = a
        return a
    }

    /// Runs the forward pass, keeping what the backward pass needs, and returns the mean cross-entropy
    /// (nats) over positions whose target is not −1.
    public func forward(_ b: TrainingBatch) -> Double { forward(b, headGradient: false) }

    /// Runs the layers only (no output head, no loss) and returns the final normed hidden states
    /// `[rows × hidden]`, valid until the next call: what a distillation teacher provides.
    public func forwardHidden(_ b: TrainingBatch) -> UnsafePointer<Float> {
        _ = forward(b, headGradient: false, head: false)
        return finalHidden
    }

    /// With `headGradient`, the head's loss gradient is computed with the loss (one pass over the logits)
    /// and kept for `backward()`.
    func forward(_ b: TrainingBatch, headGradient: Bool, head: Bool = true) -> Double {
        let saved = prepare(rows: b.batch * b.seqLen)
        batch = b
        headGradientReady = false
        let xn = model.decoderForward(
            tokens: b.tokens, attention: .training(b, attentionScratch), hooks: hooks, workspace: ws, saved: saved,
            clock: clock, phases: .training)
        guard head else { return 0 }
        clock?.enter("head")
        let gradient = headGradient ? ws.buffer("dxn", b.batch * b.seqLen * model.config.hiddenSize).pointer : nil
        let (loss, perRow) = headLoss(b, hidden: xn.pointer, gradient: gradient)
        headGradientReady = headGradient
        lastLoss = loss
        lastTokenLosses = perRow
        clock?.stop()
        return loss
    }

    /// Runs the forward pass and the backward pass; adapter gradients are accumulated by the hooks.
    /// Returns the loss of the forward pass.
    @discardableResult
    public func forwardBackward(_ b: TrainingBatch) -> Double {
        _ = forward(b, headGradient: true)
        return backward()
    }

    /// The backward pass for the batch of the last `forward` call (recomputing the head's logits unless
    /// `forwardBackward` already produced their gradient).
    public func backward() -> Double {
        guard let b = batch, let saved = activations else { preconditionFailure("backward() before forward()") }
        let finalInput = saved.finalInput, finalRstd = saved.finalRstd
        let c = model.config, d = c.hiddenSize, n = b.batch * b.seqLen, F = c.ffnSize
        let xn = ws.buffer("xn", n * d), dh = ws.buffer("dh", n * d), dxn = ws.buffer("dxn", n * d)
        let act = ws.buffer("act", n * F), dAct = ws.buffer("dAct", n * F), dGU = ws.buffer("dGU", n * 2 * F)
        let recomputedGU = ws.buffer("gu", saved.keepsGateUp ? 0 : n * 2 * F)
        let dAttn = ws.buffer("dAttn", n * c.qSize), dQKV = ws.buffer("dQKV", n * c.qkvSize),
            dMid = ws.buffer("dMid", n * d)
        var loss = lastLoss
        if !headGradientReady {
            clock?.enter("head")
            // Head: recompute the final norm output, then logits chunk by chunk into d(normed hidden).
            clock?.enter("backward.elementwise")
            ParallelKernels.rmsNorm(
                finalInput.pointer, weight: model.weights.finalNorm.pointer, rows: n, dim: d, eps: c.rmsNormEps,
                into: xn.pointer)
            loss = headLoss(b, hidden: xn.pointer, gradient: dxn.pointer).mean
        }
        headGradientReady = false
        dh.pointer.initialize(repeating: 0, count: n * d)
        clock?.enter("backward.elementwise")
        ParallelKernels.rmsNormBackward(
            x: finalInput.pointer, weight: model.weights.finalNorm.pointer, rstd: finalRstd.pointer,
            dOut: dxn.pointer, rows: n, dim: d, dx: dh.pointer)

        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            let w = model.weights.layers[l], s = saved.layers[l]
            clock?.enter("backward.adapters")
            hooks?.residualBackward(layer: l, dh: dh.pointer, rows: n)
            // MLP: y = xMid + [postNorm](down(act(gate|up(norm(xMid))))). norm(xMid) is recomputed into xn
            // (which nothing below overwrites) when gate|up is recomputed or their adapters need it.
            let adaptsGateUp = needsInput([.gate, .up], l)
            if !saved.keepsGateUp || adaptsGateUp {
                clock?.enter(saved.keepsGateUp ? "backward.elementwise" : "backward.recompute")
                ParallelKernels.rmsNorm(
                    s.xMid.pointer, weight: w.ffnNorm.pointer, rows: n, dim: d, eps: c.rmsNormEps, into: xn.pointer)
            }
            let gu = saved.keepsGateUp ? s.gu.pointer : recomputedGU.pointer
            if !saved.keepsGateUp {
                model.gateUp(layer: l, xn.pointer, rows: n, hooks: hooks, into: gu, clock: clock, phases: .recompute)
            }
            clock?.enter("backward.elementwise")
            model.gatedActivation(gu, rows: n, into: act.pointer)
            let dFFN = branchGradient(
                dh.pointer, branch: s.ffnBranch, rstd: s.ffnBranchRstd, postNorm: w.postFFNNorm, rows: n)
            clock?.enter("backward.gemm")
            model.projectInputGradient(.down, layer: l, dFFN, rows: n, into: dAct.pointer)
            clock?.enter("backward.adapters")
            adaptBackward(
                [.down], layer: l, x: act.pointer, rows: n, inFeatures: F, dy: dFFN, ldy: d, offsets: [0],
                widths: [d], dx: dAct.pointer)
            clock?.enter("backward.elementwise")
            model.gatedActivationBackward(gu: gu, dAct: dAct.pointer, rows: n, dGU: dGU.pointer)
            clock?.enter("backward.gemm")
            model.projectInputGradient(.gateUp, layer: l, dGU.pointer, rows: n, into: dxn.pointer)
            clock?.enter("backward.adapters")
            if adaptsGateUp {
                adaptBackward(
                    [.gate, .up], layer: l, x: xn.pointer, rows: n, inFeatures: d, dy: dGU.pointer, ldy: 2 * F,
                    offsets: [0, F], widths: [F, F], dx: dxn.pointer)
            }
            clock?.enter("backward.elementwise")
            dMid.pointer.update(from: dh.pointer, count: n * d)
            clock?.enter("backward.elementwise")
            ParallelKernels.rmsNormBackward(
                x: s.xMid.pointer, weight: w.ffnNorm.pointer, rstd: s.rstd2.pointer, dOut: dxn.pointer, rows: n, dim: d,
                dx: dMid.pointer)
            // Attention: xMid = xIn + [postNorm](o(attention(rope([qkNorm](q|k|v(norm(xIn))))))).
            let dBlock = branchGradient(
                dMid.pointer, branch: s.attnBranch, rstd: s.attnBranchRstd, postNorm: w.postAttnNorm, rows: n)
            clock?.enter("backward.gemm")
            model.projectInputGradient(.wo, layer: l, dBlock, rows: n, into: dAttn.pointer)
            clock?.enter("backward.adapters")
            adaptBackward(
                [.o], layer: l, x: s.attnOut.pointer, rows: n, inFeatures: c.qSize, dy: dBlock, ldy: d,
                offsets: [0], widths: [d], dx: dAttn.pointer)
            clock?.enter("backward.attention")
            TrainingAttention.backward(
                config: c, layer: l, batch: b, qkv: s.qkv.pointer, dOut: dAttn.pointer, dQKV: dQKV.pointer,
                scratch: attentionScratch)
            clock?.enter("backward.elementwise")
            let rope = model.rope(layer: l)
            b.positions.withUnsafeBufferPointer { pos in
                rope.apply(
                    dQKV.pointer, rows: n, stride: c.qkvSize, heads: c.heads, positions: pos.baseAddress!, inverse: true
                )
                rope.apply(
                    dQKV.pointer + c.qSize, rows: n, stride: c.qkvSize, heads: c.kvHeads, positions: pos.baseAddress!,
                    inverse: true)
            }
            if c.family.qkNorm { qkNormBackward(dQKV.pointer, layer: l, rows: n) }
            clock?.enter("backward.gemm")
            model.projectInputGradient(.qkv, layer: l, dQKV.pointer, rows: n, into: dxn.pointer)
            clock?.enter("backward.adapters")
            if needsInput([.q, .k, .v], l) {
                clock?.enter("backward.elementwise")
                ParallelKernels.rmsNorm(
                    s.xIn.pointer, weight: w.attnNorm.pointer, rows: n, dim: d, eps: c.rmsNormEps, into: xn.pointer)
                clock?.enter("backward.adapters")
                adaptBackward(
                    [.q, .k, .v], layer: l, x: xn.pointer, rows: n, inFeatures: d, dy: dQKV.pointer, ldy: c.qkvSize,
                    offsets: [0, c.qSize, c.qSize + c.kvSize], widths: [c.qSize, c.kvSize, c.kvSize], dx: dxn.pointer)
            }
            clock?.enter("backward.elementwise")
            dh.pointer.update(from: dMid.pointer, count: n * d)
            clock?.enter("backward.elementwise")
            ParallelKernels.rmsNormBackward(
                x: s.xIn.pointer, weight: w.attnNorm.pointer, rstd: s.rstd1.pointer, dOut: dxn.pointer, rows: n, dim: d,
                dx: dh.pointer)
        }
        clock?.stop()
        return loss
    }

    /// The final normed hidden states of the last `forward` (`[rows × hidden]`), valid until the next
    /// forward or backward call: feed them to ``LlamaModel/logits(hidden:rows:into:)`` for full
    /// distributions under the adapters.
    public var finalHidden: UnsafePointer<Float> {
        UnsafePointer(ws.buffer("xn", (activations?.rows ?? 0) * model.config.hiddenSize).pointer)
    }

    /// The gradient w.r.t. the embedding outputs from the last backward pass (`[rows × hidden]`), for tests.
    public var inputGradient: UnsafePointer<Float> {
        UnsafePointer(ws.buffer("dh", (activations?.rows ?? 0) * model.config.hiddenSize).pointer)
    }

    /// The loss over the output head: cross-entropy, or the distillation objective when a teacher is set.
    private func headLoss(_ b: TrainingBatch, hidden: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>?)
        -> (mean: Double, perRow: [Double])
    {
        guard let target = distillation else {
            lastDistillation = nil
            return LossHead.crossEntropy(
                model: model, hidden: hidden, targets: b.targets, gradient: gradient, workspace: ws)
        }
        precondition(
            target.teacherHidden.count == b.targets.count * model.config.hiddenSize,
            "teacher states do not match the batch")
        let r = DistillationHead.loss(
            model: model, hidden: hidden, teacherHidden: target.teacherHidden.pointer, targets: b.targets,
            alpha: target.alpha, temperature: target.temperature, gradient: gradient, workspace: ws)
        lastDistillation = r.terms
        return (r.mean, r.perRow)
    }

    /// The gradient of a block's output before its sandwich norm, from the gradient `dy` of the residual
    /// stream after it (`dy` itself where the family has no sandwich norms).
    private func branchGradient(
        _ dy: UnsafeMutablePointer<Float>, branch: FloatBuffer, rstd: FloatBuffer, postNorm: FloatBuffer, rows n: Int
    ) -> UnsafeMutablePointer<Float> {
        guard model.config.family.sandwichNorms else { return dy }
        let d = model.config.hiddenSize
        let dBranch = ws.buffer("dBranch", n * d)
        dBranch.pointer.initialize(repeating: 0, count: n * d)
        clock?.enter("backward.elementwise")
        ParallelKernels.rmsNormBackward(
            x: branch.pointer, weight: postNorm.pointer, rstd: rstd.pointer, dOut: dy, rows: n, dim: d,
            dx: dBranch.pointer)
        return dBranch.pointer
    }

    /// QK-norm's backward pass, in place on the q and k heads of `dQKV`: from the gradient after each head's
    /// norm to the gradient before it.
    private func qkNormBackward(_ dQKV: UnsafeMutablePointer<Float>, layer l: Int, rows n: Int) {
        let c = model.config, s = activations!.layers[l], w = model.weights.layers[l]
        let width = c.qSize + c.kvSize, normed = c.heads + c.kvHeads, hd = c.headDim
        let dp = SendablePointer(dQKV), xp = SendablePointer(s.qkRaw.pointer), rp = SendablePointer(s.qkRstd.pointer)
        let qw = SendablePointer(w.qNorm.pointer), kw = SendablePointer(w.kNorm.pointer)
        let stride = c.qkvSize, heads = c.heads
        Parallel.rows(n, minRows: 4) { range in
            let dOut = UnsafeMutablePointer<Float>.allocate(capacity: width)
            defer { dOut.deallocate() }
            for r in range {
                let d = dp.p + r * stride
                dOut.update(from: d, count: width)
                d.initialize(repeating: 0, count: width)
                for h in 0..<normed {
                    BackwardKernels.rmsNorm(
                        x: xp.p + r * width + h * hd, weight: h < heads ? qw.p : kw.p, rstd: rp.p + r * normed + h,
                        dOut: dOut + h * hd, rows: 1, dim: hd, dx: d + h * hd)
                }
            }
        }
    }

    private func needsInput(_ ps: [Projection], _ l: Int) -> Bool {
        guard let hooks else { return false }
        return ps.contains { hooks.adapts($0, layer: l) }
    }

    private func adaptBackward(
        _ ps: [Projection], layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int, dy: UnsafePointer<Float>,
        ldy: Int,
        offsets: [Int], widths: [Int], dx: UnsafeMutablePointer<Float>
    ) {
        guard let hooks else { return }
        for (i, p) in ps.enumerated() where hooks.adapts(p, layer: layer) {
            hooks.projectionBackward(
                p, layer: layer, x: x, rows: rows, inFeatures: inFeatures, dy: dy + offsets[i], ldy: ldy,
                outFeatures: widths[i], dx: dx)
        }
    }
}
