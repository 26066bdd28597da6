import CRMAModel
import CRMANumerics
import Foundation

/// Health of the mixing matrices after a step: the constraint the method rests on.
public struct CRMAHealth: Sendable, Equatable, Codable {
    /// max over layers of ‖M_ℓ‖₂ − 1.
    public var maxSpectralExcess: Double
    /// max over layers of the largest |row or column sum − 1|.
    public var maxMarginError: Double
}

/// The CRMA substrate (crma.md §2–3): per decoder layer, a residual adapter
/// `h = y + g · (ŷ·R) · Mᵀ · W` whose mixing matrix `M = Sinkhorn(log_mix)` is doubly stochastic.
///
/// - Important: one forward or backward pass at a time, as for ``LoRA``.
public final class CRMA {
    public let config: CRMAConfig
    public let hidden: Int
    public let layers: Int
    /// `[hidden × n]` read projections.
    public let read: [Parameter]
    /// `[n × hidden]` write projections (lowrank variant only; tied uses `Rᵀ`).
    public let write: [Parameter]
    /// `[n × n]` mixing logits (sinkhorn mixing only).
    public let logMix: [Parameter]
    /// `[1]` gate logits.
    public let logAlpha: [Parameter]
    public var trainable = true

    private var sinkhorn: [Sinkhorn?]
    private var saved: [Saved?]
    private let scratch = ForwardWorkspace()

    struct Saved {
        let y: FloatBuffer, rstd: FloatBuffer, s: FloatBuffer, sMixed: FloatBuffer
    }

    /// Builds the substrate for `model`: W = 0 (exact identity at step 0), R = leading left singular
    /// vectors of each layer's W_down, log_mix = 2·I, log_alpha = gateInit.
    public init(config: CRMAConfig, model: LlamaModel, seed: UInt64) {
        self.config = config
        let c = model.config
        hidden = c.hiddenSize
        layers = c.layers
        let n = config.streams
        var r: [Parameter] = [], w: [Parameter] = [], m: [Parameter] = [], a: [Parameter] = []
        for l in 0..<c.layers {
            let R = Parameter(name: "layers.\(l).crma.R", shape: [c.hiddenSize, n], group: .proj, family: .crma)
            // A bf16 or quantized model hands out a widened copy: keep it alive while its pointer is read.
            let down = model.frozenWeight(.down, layer: l)
            withExtendedLifetime(down) {
                Orthonormal.leadingLeftSingularVectors(
                    down.pointer, d: c.hiddenSize, f: c.ffnSize, n: n, seed: seed &+ UInt64(l), into: R.value.pointer)
            }
            r.append(R)
            if config.variant == .lowrank {
                w.append(Parameter(name: "layers.\(l).crma.W", shape: [n, c.hiddenSize], group: .proj, family: .crma))
            }
            if config.mixing == .sinkhorn {
                let lm = Parameter(name: "layers.\(l).crma.log_mix", shape: [n, n], group: .structural, family: .crma)
                for i in 0..<n { lm.value[i * n + i] = config.mixInitDiagonal }
                m.append(lm)
            }
            let g = Parameter(name: "layers.\(l).crma.log_alpha", shape: [1], group: .gate, family: .crma)
            g.value[0] = config.gateInit
            a.append(g)
        }
        read = r
        write = w
        logMix = m
        logAlpha = a
        sinkhorn = Array(repeating: nil, count: c.layers)
        saved = Array(repeating: nil, count: c.layers)
    }

    /// `log_alpha` is kept at or above this after every optimizer step: exp(−30) ≈ 1e-13 switches the
    /// adapter off for any purpose while its gradient (g itself) stays a normal float, so a gate driven
    /// down never underflows to 0 (a dead, unrecoverable gate) or turns a later step non-finite.
    public static let logAlphaFloor: Float = -30

    /// An independent copy with the same values (not trainable): the substrate as it is now, for a
    /// candidate that trains while its parent must stay as it was.
    public func copy() -> CRMA { CRMA(copying: self) }

    private init(copying o: CRMA) {
        func clone(_ ps: [Parameter]) -> [Parameter] {
            ps.map { Parameter(name: $0.name, shape: $0.shape, group: $0.group, family: $0.family, value: FloatBuffer($0.value.array)) }
        }
        config = o.config
        hidden = o.hidden
        layers = o.layers
        read = clone(o.read)
        write = clone(o.write)
        logMix = clone(o.logMix)
        logAlpha = clone(o.logAlpha)
        trainable = false
        sinkhorn = Array(repeating: nil, count: o.layers)
        saved = Array(repeating: nil, count: o.layers)
    }

    public var parameters: [Parameter] { read + write + logMix + logAlpha }

    /// The mixing matrix of `layer` as used by the next forward pass (Float64, row-major `n × n`).
    public func mixingMatrix(layer l: Int) -> [Double] {
        let n = config.streams
        if config.mixing == .identity { return (0..<(n * n)).map { $0 % (n + 1) == 0 ? 1 : 0 } }
        return Sinkhorn(logits: logMix[l].value.array.map(Double.init), n: n, iterations: config.sinkhornIterations)
            .matrix
    }

    /// ‖M‖₂ − 1 and margin errors over all layers, for the current parameters.
    public func health() -> CRMAHealth {
        var h = CRMAHealth(maxSpectralExcess: -.infinity, maxMarginError: 0)
        for l in 0..<layers {
            let m = mixingMatrix(layer: l)
            h.maxSpectralExcess = max(h.maxSpectralExcess, Sinkhorn.spectralNorm(m, n: config.streams) - 1)
            h.maxMarginError = max(h.maxMarginError, Sinkhorn.marginError(m, n: config.streams))
        }
        return h
    }

    /// After an optimizer step: clamp log_mix, and (tied) retract R to orthonormal columns.
    public func afterOptimizerStep() {
        let bound = config.logMixClamp
        for p in logMix { for i in 0..<p.count { p.value[i] = min(max(p.value[i], -bound), bound) } }
        for p in logAlpha { p.value[0] = max(p.value[0], Self.logAlphaFloor) }
        if config.variant == .tied {
            for R in read { Orthonormal.orthonormalizeColumns(R.value.pointer, d: hidden, n: config.streams) }
        }
    }

    func gate(_ l: Int) -> Float {
        let a = logAlpha[l].value[0]
        return config.variant == .tied ? 1 / (1 + Foundation.exp(-a)) : Foundation.exp(a)
    }

    /// d g / d log_alpha.
    func gateDerivative(_ l: Int) -> Float {
        let g = gate(l)
        return config.variant == .tied ? g * (1 - g) : g
    }

    /// Computes layer `l`'s mixing matrix for a forward pass (kept, with its Sinkhorn trace, for the
    /// backward pass of the same step).
    func mixing(_ l: Int) -> FloatBuffer {
        let n = config.streams
        let m = scratch.buffer("M\(l)", n * n)
        if config.mixing == .identity {
            for i in 0..<(n * n) { m[i] = i % (n + 1) == 0 ? 1 : 0 }
        } else {
            let s = Sinkhorn(
                logits: logMix[l].value.array.map(Double.init), n: n, iterations: config.sinkhornIterations)
            sinkhorn[l] = s
            for i in 0..<(n * n) { m[i] = Float(s.matrix[i]) }
        }
        return m
    }

    // MARK: - Forward and backward

    func forward(layer l: Int, h: UnsafeMutablePointer<Float>, rows N: Int) {
        guard config.enabled else { return }
        let d = hidden, n = config.streams
        let M = mixing(l)
        let prev = saved[l]
        let fits = prev.map { $0.y.count >= N * d } ?? false
        let sv =
            fits
            ? prev!
            : Saved(
                y: FloatBuffer(count: N * d), rstd: FloatBuffer(count: N), s: FloatBuffer(count: N * n),
                sMixed: FloatBuffer(count: N * n))
        saved[l] = sv
        sv.y.pointer.update(from: h, count: N * d)
        let readInput = readInput(layer: l, rows: N)
        let rT = transposedRead(l)
        // S = ŷ·R ; S' = S·Mᵀ
        SkinnyGemm.down(rows: N, k: d, r: n, x: readInput, ldx: d, w: rT, into: sv.s.pointer)
        Self.mix(sv.s.pointer, rows: N, n: n, by: M.pointer, transposed: true, into: sv.sMixed.pointer)
        let g = gate(l)
        switch config.variant {
        case .lowrank:
            // h = y + g · S'·W
            SkinnyGemm.up(
                rows: N, k: d, r: n, alpha: g, u: sv.sMixed.pointer, w: write[l].value.pointer, into: h, ldy: d,
                accumulate: true)
        case .tied:
            // h = y + g · (S' − S)·Rᵀ
            let D = scratch.buffer("D", N * n)
            for i in 0..<(N * n) { D[i] = sv.sMixed[i] - sv.s[i] }
            SkinnyGemm.up(rows: N, k: d, r: n, alpha: g, u: D.pointer, w: rT, into: h, ldy: d, accumulate: true)
        }
    }

    /// `Rᵀ` (`[n × hidden]`) of layer `l` in scratch memory, valid until the next call.
    private func transposedRead(_ l: Int) -> UnsafePointer<Float> {
        let n = config.streams
        let rT = scratch.buffer("RT", n * hidden)
        SmallGemm.transpose(read[l].value.pointer, rows: hidden, cols: n, ld: n, into: rT.pointer)
        return UnsafePointer(rT.pointer)
    }

    /// `out[rows × n] = s·Mᵀ` (`transposed`) or `s·M`, for the `n × n` mixing matrix.
    private static func mix(
        _ s: UnsafePointer<Float>, rows: Int, n: Int, by m: UnsafePointer<Float>, transposed: Bool,
        into out: UnsafeMutablePointer<Float>
    ) {
        for t in 0..<rows {
            for i in 0..<n {
                var acc: Float = 0
                for j in 0..<n { acc += s[t * n + j] * (transposed ? m[i * n + j] : m[j * n + i]) }
                out[t * n + i] = acc
            }
        }
    }

    /// `g[hidden × n] += alpha · xᵀ·u` for `x[rows × hidden]` and `u[rows × n]` (a read projection's gradient).
    private func accumulateReadGradient(
        _ l: Int, rows N: Int, alpha: Float = 1, x: UnsafePointer<Float>, u: UnsafePointer<Float>
    ) {
        let n = config.streams, d = hidden
        SkinnyGemm.accumulateOuterTransposed(
            rows: N, k: d, r: n, alpha: alpha, u: u, x: x, ldx: d, into: read[l].grad.pointer,
            scratch: scratch.buffer("dRT", n * d).pointer)
    }

    /// The tensor the read projection reads: RMS-normalized y (lowrank, normalized read) or y itself.
    private func readInput(layer l: Int, rows N: Int) -> UnsafePointer<Float> {
        let sv = saved[l]!
        guard config.variant == .lowrank, config.read == .normalized else { return UnsafePointer(sv.y.pointer) }
        let yhat = scratch.buffer("yhat", N * hidden)
        ParallelKernels.rmsNorm(
            sv.y.pointer, weight: nil, rows: N, dim: hidden, eps: 1e-5, into: yhat.pointer, rstd: sv.rstd.pointer)
        return UnsafePointer(yhat.pointer)
    }

    func backward(layer l: Int, dh: UnsafeMutablePointer<Float>, rows N: Int) {
        guard config.enabled, let sv = saved[l] else { return }
        let d = hidden, n = config.streams
        let M = scratch.buffer("M\(l)", n * n)  // as the forward pass of this step computed it
        let rT = transposedRead(l)
        let g = gate(l)
        let dS = scratch.buffer("dS", N * n), dSm = scratch.buffer("dSm", N * n)
        switch config.variant {
        case .lowrank:
            let W = write[l]
            // dS' = g · dh·Wᵀ ; dg = Σ dh ⊙ (S'·W) = ⟨S', dh·Wᵀ⟩ = ⟨S', dS'⟩ / g  (no N×d recompute of Δ)
            SkinnyGemm.down(rows: N, k: d, r: n, alpha: g, x: dh, ldx: d, w: W.value.pointer, into: dSm.pointer)
            let dg = Double(Kernels.dot(sv.sMixed.pointer, dSm.pointer, N * n)) / Double(g)
            if trainable {
                logAlpha[l].grad[0] += Float(dg) * gateDerivative(l)
                // dW += g · S'ᵀ·dh
                SkinnyGemm.accumulateOuter(
                    rows: N, k: d, r: n, alpha: g, u: sv.sMixed.pointer, x: dh, ldx: d, into: W.grad.pointer)
            }
            // dS = dS'·M
            Self.mix(dSm.pointer, rows: N, n: n, by: M.pointer, transposed: false, into: dS.pointer)
        case .tied:
            let D = scratch.buffer("D", N * n)
            for i in 0..<(N * n) { D[i] = sv.sMixed[i] - sv.s[i] }
            // dD = g · dh·R ; dg = Σ dh ⊙ (D·Rᵀ) = ⟨D, dD⟩ / g
            SkinnyGemm.down(rows: N, k: d, r: n, alpha: g, x: dh, ldx: d, w: rT, into: dSm.pointer)
            let dg = Double(Kernels.dot(D.pointer, dSm.pointer, N * n)) / Double(g)
            if trainable {
                logAlpha[l].grad[0] += Float(dg) * gateDerivative(l)
                // dR (write side) += g · dhᵀ·D
                accumulateReadGradient(l, rows: N, alpha: g, x: dh, u: D.pointer)
            }
            // dS = dD·M − dD
            Self.mix(dSm.pointer, rows: N, n: n, by: M.pointer, transposed: false, into: dS.pointer)
            for i in 0..<(N * n) { dS[i] -= dSm[i] }
        }
        // dM = dS'ᵀ·S (dDᵀ·S for tied)
        var dM = [Float](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var acc: Float = 0
                for t in 0..<N { acc += dSm[t * n + i] * sv.s[t * n + j] }
                dM[i * n + j] = acc
            }
        }
        if trainable, config.mixing == .sinkhorn, let s = sinkhorn[l] {
            let dLogits = s.backward(dM.map(Double.init))
            for i in 0..<(n * n) { logMix[l].grad[i] += Float(dLogits[i]) }
        }
        // Read side: S = x·R with x = ŷ (normalized) or y.
        let x = readInput(layer: l, rows: N)
        if trainable { accumulateReadGradient(l, rows: N, x: x, u: dS.pointer) }
        let dx = scratch.buffer("dx", N * d)
        SkinnyGemm.up(rows: N, k: d, r: n, u: dS.pointer, w: rT, into: dx.pointer, ldy: d, accumulate: false)
        if config.variant == .lowrank, config.read == .normalized {
            ParallelKernels.rmsNormBackward(
                x: sv.y.pointer, weight: nil, rstd: sv.rstd.pointer, dOut: dx.pointer, rows: N, dim: d, dx: dh)
        } else {
            Kernels.add(dx.pointer, into: dh, N * d)
        }
    }
}
