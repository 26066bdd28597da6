import CRMANumerics

/// The arithmetic of the frozen base model's GEMMs (projections and output head, forward and input
/// gradients). Adapters, their gradients, norms, attention, softmax, the loss and the optimizer are fp32
/// either way.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// OpenBLAS sgemm on the fp32 weights.
    case fp32
    /// Weights held in bf16, activations rounded to bf16, products accumulated in fp32 (oneDNN);
    /// needs AVX512-BF16.
    case bf16

    /// bf16 where the CPU has AVX512-BF16 and the process may generate code, else fp32, with the reason in
    /// words (for one log line).
    public static func automatic() -> (precision: Precision, reason: String) {
        guard BF16.cpuSupported else { return (.fp32, "fp32: the CPU lacks AVX512-BF16") }
        guard BF16.jitAllowed else { return (.fp32, "fp32: \(PrecisionError.jitDenied)") }
        return (.bf16, "bf16: the CPU has AVX512-BF16 (oneDNN \(BF16.instructionSet))")
    }

    /// Parses a setting: "fp32", "bf16" or "auto". Throws on anything else, and on "bf16" where the
    /// CPU cannot run it.
    public static func parse(_ setting: String) throws -> (precision: Precision, reason: String) {
        switch setting {
        case "auto": return automatic()
        case "fp32": return (.fp32, "fp32: as configured")
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
        case .unknown(let s): "precision must be \"auto\", \"bf16\" or \"fp32\", not \"\(s)\""
        case .bf16Unsupported: "precision \"bf16\" needs a CPU with AVX512-BF16 (see /proc/cpuinfo); use \"fp32\" or \"auto\""
        case .jitDenied:
            "bf16 needs executable memory for oneDNN's generated kernels, and this process may not create it (a W^X policy such as systemd's MemoryDenyWriteExecute=yes); allow it or use precision \"fp32\""
        }
    }
}

/// The frozen GEMM weights in bf16 (one ``BF16Matrix`` per projection, and the output head), and the
/// embedding table: the head itself when tied, so one bf16 copy serves the lookup and the head GEMM.
struct BF16Weights: @unchecked Sendable {
    struct Layer {
        let qkv, wo, gateUp, down: BF16Matrix

        subscript(_ p: FrozenProjection) -> BF16Matrix {
            switch p {
            case .qkv: qkv
            case .wo: wo
            case .gateUp: gateUp
            case .down: down
            }
        }
    }
    let layers: [Layer]
    let embedding: BF16Matrix
    let outputHead: BF16Matrix

    init(_ w: LlamaWeights, config c: LlamaConfig) {
        layers = w.layers.map { l in
            func convert(_ p: FrozenProjection) -> BF16Matrix {
                let (out, inputs) = c.shape(p)
                return BF16Matrix(l[p].pointer, rows: out, cols: inputs)
            }
            return Layer(qkv: convert(.qkv), wo: convert(.wo), gateUp: convert(.gateUp), down: convert(.down))
        }
        embedding = BF16Matrix(
            w.embedding.pointer, rows: c.vocabSize, cols: c.hiddenSize, layout: Self.embeddingLayout(tiedHead: c.tiedEmbeddings))
        outputHead =
            c.tiedEmbeddings ? embedding : BF16Matrix(w.outputHead.pointer, rows: c.vocabSize, cols: c.hiddenSize)
    }

    /// An embedding table that is not the head only has rows looked up: row-major is its natural layout.
    /// The GEMM weights (and a tied table) start blocked (``BF16Matrix``).
    static func embeddingLayout(tiedHead: Bool) -> BF16Matrix.Layout { tiedHead ? .blocked : .rowMajor }

    /// From the matrices converted in load order: the embedding, the projections (qkv, wo, gateUp, down
    /// per layer), then the head unless it is tied to the embedding.
    init(converted: [BF16Matrix], tiedHead: Bool) {
        let projections = converted.count - (tiedHead ? 1 : 2)
        precondition(projections >= 0 && projections % 4 == 0, "unexpected number of converted weights")
        embedding = converted[0]
        layers = stride(from: 1, to: 1 + projections, by: 4).map {
            Layer(qkv: converted[$0], wo: converted[$0 + 1], gateUp: converted[$0 + 2], down: converted[$0 + 3])
        }
        outputHead = tiedHead ? embedding : converted[converted.count - 1]
    }
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
    func bf16Weight(_ p: FrozenProjection, layer l: Int) -> BF16Matrix? { bf16Weights?.layers[l][p] }

    /// Projection `p` of layer `l` as fp32 `[out × in]`: the weights themselves in fp32, a widened copy of
    /// the bf16 weights in bf16 (what the bf16 GEMMs multiply by). For adapters that read the base (CRMA's
    /// initialisation, merging a LoRA).
    public func frozenWeight(_ p: FrozenProjection, layer l: Int) -> FloatBuffer {
        bf16Weight(p, layer: l)?.widened() ?? weights.layers[l][p]
    }

    /// The output head `[vocab × hidden]` as fp32 (a widened copy of the bf16 head in a bf16 model).
    public func frozenHead() -> FloatBuffer { bf16Weights?.outputHead.widened() ?? weights.outputHead }

    /// The embedding table `[vocab × hidden]` as fp32 (a widened copy in a bf16 model).
    public func frozenEmbedding() -> FloatBuffer { bf16Weights?.embedding.widened() ?? weights.embedding }

    /// Writes the embeddings of `tokens` into `x` (`[tokens × hidden]`).
    func embed(_ tokens: [Int32], into x: UnsafeMutablePointer<Float>) {
        let c = config, d = c.hiddenSize
        for (i, t) in tokens.enumerated() {
            precondition(t >= 0 && Int(t) < c.vocabSize, "token id \(t) out of range")
            if let table = bf16Weights?.embedding {
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
        if let w = bf16Weight(p, layer: l) {
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
        if let w = bf16Weight(p, layer: l) {
            w.inputGradient(dy, rows: rows, into: dx)
        } else {
            let (o, i) = config.shape(p)
            BLAS.sgemm(m: rows, n: i, k: o, a: dy, lda: o, b: weights.layers[l][p].pointer, ldb: i, c: dx, ldc: i)
        }
    }

    /// `dh[rows × hidden] = dLogits[rows × vocab] · E`: the output head's input gradient.
    public func headInputGradient(_ dLogits: UnsafePointer<Float>, rows: Int, into dh: UnsafeMutablePointer<Float>) {
        if let head = bf16Weights?.outputHead {
            head.inputGradient(dLogits, rows: rows, into: dh)
        } else {
            let V = config.vocabSize, d = config.hiddenSize
            BLAS.sgemm(m: rows, n: d, k: V, a: dLogits, lda: V, b: weights.outputHead.pointer, ldb: d, c: dh, ldc: d)
        }
    }
}
