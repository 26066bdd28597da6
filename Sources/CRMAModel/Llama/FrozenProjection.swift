import CRMANumerics

/// A frozen projection of a decoder layer.
public enum FrozenProjection: Sendable {
    case qkv, wo, gateUp, down
}

extension LlamaConfig {
    /// `(out, in)` of a projection's weight.
    func shape(_ p: FrozenProjection) -> (out: Int, in: Int) {
        switch p {
        case .qkv: (qkvSize, hiddenSize)
        case .wo: (hiddenSize, qSize)
        case .gateUp: (2 * ffnSize, hiddenSize)
        case .down: (hiddenSize, ffnSize)
        }
    }
}

extension LlamaLayerWeights {
    /// The fp32 buffer of projection `p` (empty in a bf16 model).
    subscript(_ p: FrozenProjection) -> FloatBuffer {
        switch p {
        case .qkv: qkv
        case .wo: wo
        case .gateUp: gateUp
        case .down: down
        }
    }
}

/// The frozen base's GEMMs, written once for every base: a bf16 or quantized model asks its
/// ``FrozenMatrix``, an fp32 model runs OpenBLAS on its own buffers.
extension LlamaModel {
    func frozenMatrix(_ p: FrozenProjection, layer l: Int) -> (any FrozenMatrix)? { frozenMatrices?.layers[l][p] }

    /// Projection `p` of layer `l` as fp32 `[out × in]`: the weights themselves in fp32, a widened copy of
    /// the bf16 or quantized weights otherwise (what the GEMMs multiply by). For adapters that read the base (CRMA's
    /// initialisation, merging a LoRA).
    public func frozenWeight(_ p: FrozenProjection, layer l: Int) -> FloatBuffer {
        frozenMatrix(p, layer: l)?.widened() ?? weights.layers[l][p]
    }

    /// The output head `[vocab × hidden]` as fp32 (a widened copy in a bf16 or quantized model).
    public func frozenHead() -> FloatBuffer { frozenMatrices?.outputHead.widened() ?? weights.outputHead }

    /// The embedding table `[vocab × hidden]` as fp32 (a widened copy in a bf16 or quantized model).
    public func frozenEmbedding() -> FloatBuffer { frozenMatrices?.embedding.widened() ?? weights.embedding }

    /// Writes the embeddings of `tokens` into `x` (`[tokens × hidden]`).
    func embed(_ tokens: [Int32], into x: UnsafeMutablePointer<Float>) {
        let c = config, d = c.hiddenSize
        for (i, t) in tokens.enumerated() {
            precondition(t >= 0 && Int(t) < c.vocabSize, "token id \(t) out of range")
            if let table = frozenMatrices?.embedding {
                table.widenRow(Int(t), into: x + i * d)
            } else {
                (x + i * d).update(from: weights.embedding.pointer + Int(t) * d, count: d)
            }
        }
        let scale = c.family.embeddingScale
        if scale != 1 { for i in 0..<tokens.count * d { x[i] *= scale } }
    }

    /// `y[rows × out] (+)= x[rows × in] · Wᵀ` for projection `p` of layer `l`, in the model's precision.
    public func project(
        _ p: FrozenProjection, layer l: Int, _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
        accumulate: Bool = false
    ) {
        if let w = frozenMatrix(p, layer: l) {
            w.linear(x, rows: rows, into: y, accumulate: accumulate)
        } else {
            let (o, i) = config.shape(p)
            BLAS.linear(
                x, rows: rows, inFeatures: i, weight: weights.layers[l][p].pointer, outFeatures: o, into: y,
                accumulate: accumulate)
        }
    }

    /// `dx[rows × in] = dy[rows × out] · W` for projection `p` of layer `l`: its input gradient.
    public func projectInputGradient(
        _ p: FrozenProjection, layer l: Int, _ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>
    ) {
        if let w = frozenMatrix(p, layer: l) {
            w.inputGradient(dy, rows: rows, into: dx, accumulate: false)
        } else {
            let (o, i) = config.shape(p)
            BLAS.sgemm(m: rows, n: i, k: o, a: dy, lda: o, b: weights.layers[l][p].pointer, ldb: i, c: dx, ldc: i)
        }
    }

    /// `dh[rows × hidden] = dLogits[rows × vocab] · E`: the output head's input gradient.
    public func headInputGradient(_ dLogits: UnsafePointer<Float>, rows: Int, into dh: UnsafeMutablePointer<Float>) {
        if let head = frozenMatrices?.outputHead {
            head.inputGradient(dLogits, rows: rows, into: dh, accumulate: false)
        } else {
            let V = config.vocabSize, d = config.hiddenSize
            BLAS.sgemm(m: rows, n: d, k: V, a: dLogits, lda: V, b: weights.outputHead.pointer, ldb: d, c: dh, ldc: d)
        }
    }
}
