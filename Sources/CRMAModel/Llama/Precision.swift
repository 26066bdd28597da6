import CRMANumerics

/// How the frozen base model's GEMM weights (projections, output head, embedding) are held, and so the
/// arithmetic of its GEMMs (forward and input gradients): the `base` setting. Adapters, their gradients,
/// norms, attention, softmax, the loss and the optimizer are fp32 either way.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// OpenBLAS sgemm on the fp32 weights.
    case fp32
    /// Weights held in bf16, activations rounded to bf16, products accumulated in fp32 (oneDNN);
    /// needs AVX512-BF16.
    case bf16
    /// Weights kept in the file's own blocks (GGUF Q4_K, Q6_K, …; ``QuantizedMatrix``), dequantized panel
    /// by panel into fp32 for OpenBLAS sgemm: the fp32 model's values at a fraction of its memory.
    case quantized

    /// What "auto" picks: the quantized base, with the reason in words (for one log line). It holds the
    /// least memory (Qwen2.5-Coder-1.5B: 1.37 GB scoring, 2.61 GB training against 5.16 and 7.42 in
    /// bf16), scores and trains faster than bf16 on the machines measured (1.1–1.3 ×; fp32 is faster still
    /// where memory allows), computes the fp32 model's values, and needs neither AVX512-BF16 nor generated
    /// code (docs/benchmarks.md#the-frozen-base).
    public static func automatic() -> (precision: Precision, reason: String) {
        (.quantized, "quantized: the default (the file's own blocks, dequantized into fp32 panels: the least memory)")
    }

    /// Parses a setting: "fp32", "bf16", "quantized" or "auto". Throws on anything else, and on "bf16"
    /// where the CPU cannot run it.
    public static func parse(_ setting: String) throws -> (precision: Precision, reason: String) {
        switch setting {
        case "auto": return automatic()
        case "fp32": return (.fp32, "fp32: as configured")
        case "quantized": return (.quantized, "quantized: as configured (the file's blocks, dequantized into fp32 panels)")
        case "bf16":
            guard BF16.cpuSupported else { throw PrecisionError.bf16Unsupported }
            guard BF16.jitAllowed else { throw PrecisionError.jitDenied }
            return (.bf16, "bf16: as configured (oneDNN \(BF16.instructionSet))")
        default: throw PrecisionError.unknown(setting)
        }
    }
}

public enum PrecisionError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case bf16Unsupported
    case jitDenied

    public var description: String {
        switch self {
        case .unknown(let s): "base must be \"auto\", \"quantized\", \"bf16\" or \"fp32\", not \"\(s)\""
        case .bf16Unsupported: "precision \"bf16\" needs a CPU with AVX512-BF16 (see /proc/cpuinfo); use \"fp32\" or \"auto\""
        case .jitDenied:
            "bf16 needs executable memory for oneDNN's generated kernels, and this process may not create it (a W^X policy such as systemd's MemoryDenyWriteExecute=yes); allow it or use precision \"fp32\""
        }
    }
}

extension FrozenMatrices {
    /// `w`'s GEMM weights and embedding converted to bf16.
    init(bf16 w: LlamaWeights, config c: LlamaConfig) {
        var made: [any FrozenMatrix] = [
            BF16Matrix(w.embedding.pointer, rows: c.vocabSize, cols: c.hiddenSize, layout: Self.bf16EmbeddingLayout(tiedHead: c.tiedEmbeddings))
        ]
        for l in w.layers {
            for p in [FrozenProjection.qkv, .wo, .gateUp, .down] {
                let (out, inputs) = c.shape(p)
                made.append(BF16Matrix(l[p].pointer, rows: out, cols: inputs))
            }
        }
        if !c.tiedEmbeddings { made.append(BF16Matrix(w.outputHead.pointer, rows: c.vocabSize, cols: c.hiddenSize)) }
        self.init(inLoadOrder: made, tiedHead: c.tiedEmbeddings)
    }

    /// A bf16 embedding table that is not the head only has rows looked up: row-major is its natural
    /// layout. The GEMM weights (and a tied table) start blocked (``BF16Matrix``).
    static func bf16EmbeddingLayout(tiedHead: Bool) -> BF16Matrix.Layout { tiedHead ? .blocked : .rowMajor }
}

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
