import CRMANumerics

/// A frozen weight matrix `W[rows × cols]` (a linear layer's `[out × in]`) held in a compact form that the
/// model's GEMMs read as it is: bf16 (``BF16Matrix``) or the file's own quantized blocks
/// (``QuantizedMatrix``). An fp32 model keeps plain ``FloatBuffer``s instead.
public protocol FrozenMatrix: AnyObject, Sendable {
    var rows: Int { get }
    var cols: Int { get }
    /// Bytes held.
    var byteCount: Int { get }
    /// `y[m × rows] (+)= x[m × cols] · Wᵀ`.
    func linear(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool)
    /// `y[m × cols] (+)= x[m × rows] · W` (the input gradient of ``linear(_:rows:into:accumulate:)``).
    func inputGradient(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool)
    /// Row `r` as floats (what the GEMMs multiply by) into `out` (`cols` floats): an embedding lookup.
    func widenRow(_ r: Int, into out: UnsafeMutablePointer<Float>)
    /// The whole matrix as floats (row-major): what the GEMMs multiply by.
    func widened() -> FloatBuffer
}

extension BF16Matrix: FrozenMatrix {}

/// The frozen GEMM weights of a bf16 or quantized model (one ``FrozenMatrix`` per projection, and the
/// output head), and the embedding table: the head itself when tied, so one copy serves the lookup and the
/// head GEMM.
struct FrozenMatrices: Sendable {
    struct Layer: Sendable {
        let qkv, wo, gateUp, down: any FrozenMatrix

        subscript(_ p: FrozenProjection) -> any FrozenMatrix {
            switch p {
            case .qkv: qkv
            case .wo: wo
            case .gateUp: gateUp
            case .down: down
            }
        }
    }
    let layers: [Layer]
    let embedding: any FrozenMatrix
    let outputHead: any FrozenMatrix

    /// From the matrices made in load order: the embedding, the projections (qkv, wo, gateUp, down per
    /// layer), then the head unless it is tied to the embedding.
    init(inLoadOrder made: [any FrozenMatrix], tiedHead: Bool) {
        let projections = made.count - (tiedHead ? 1 : 2)
        precondition(projections >= 0 && projections % 4 == 0, "unexpected number of frozen matrices")
        embedding = made[0]
        layers = stride(from: 1, to: 1 + projections, by: 4).map {
            Layer(qkv: made[$0], wo: made[$0 + 1], gateUp: made[$0 + 2], down: made[$0 + 3])
        }
        outputHead = tiedHead ? embedding : made[made.count - 1]
    }

    /// Bytes held by every matrix (a tied head counted once).
    var byteCount: Int {
        let all = layers.flatMap { [$0.qkv, $0.wo, $0.gateUp, $0.down] } + [embedding]
        return all.reduce(0) { $0 + $1.byteCount } + (outputHead === embedding ? 0 : outputHead.byteCount)
    }
}

extension FrozenMatrices {
    /// `w`'s GEMM weights and embedding converted to bf16.
    init(bf16 w: LlamaWeights, config c: LlamaConfig) {
        var made: [any FrozenMatrix] = [
            BF16Matrix(
                w.embedding.pointer, rows: c.vocabSize, cols: c.hiddenSize,
                layout: Self.bf16EmbeddingLayout(tiedHead: c.tiedEmbeddings))
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
