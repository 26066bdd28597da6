import CRMANumerics

/// The tensors of a Llama-family checkpoint, named by role rather than by any one file format's names.
public enum LlamaTensor: Sendable, Hashable {
    case embedding, finalNorm, outputHead
    case attnNorm(Int), q(Int), k(Int), v(Int), o(Int), ffnNorm(Int), gate(Int), up(Int), down(Int)
    /// Gemma's QK-norm and sandwich norms (``DecoderFamily``).
    case qNorm(Int), kNorm(Int), postAttnNorm(Int), postFFNNorm(Int)
    /// Qwen 2's q, k and v biases (``DecoderFamily/qkvBias``).
    case qBias(Int), kBias(Int), vBias(Int)
}

/// A checkpoint format that can deliver Llama tensors as Float32 in Hugging Face layout.
public protocol LlamaWeightSource {
    /// The model's hyper-parameters, read from the checkpoint's metadata.
    var config: LlamaConfig { get }
    func contains(_ tensor: LlamaTensor) -> Bool
    /// Writes `tensor` (row-major, Hugging Face shape `shape`, e.g. `[out, in]`) into `out`.
    func read(_ tensor: LlamaTensor, shape: [Int], into out: UnsafeMutablePointer<Float>) throws
}

extension LlamaWeights {
    /// Loads and converts every tensor of `source` to fp32.
    public init(source: some LlamaWeightSource) throws {
        try self.init(source: source, keepMatrix: { b, _, _ in b })
    }

    /// Loads every tensor of `source`, passing each frozen matrix (the embedding, the projections, an
    /// untied head) with its `rows` and `cols` to `keepMatrix` as soon as it is read, and keeping what that
    /// returns (a bf16 model converts it and keeps an empty buffer: the fp32 copy never outlives its own
    /// tensor).
    init(source: some LlamaWeightSource, keepMatrix: (FloatBuffer, _ rows: Int, _ cols: Int) -> FloatBuffer) throws {
        let c = source.config
        try c.validate()
        func load(_ t: LlamaTensor, _ shape: [Int]) throws -> FloatBuffer {
            let b = FloatBuffer(count: shape.reduce(1, *))
            try source.read(t, shape: shape, into: b.pointer)
            return b
        }
        func loadStacked(_ parts: [(LlamaTensor, Int)], columns: Int) throws -> FloatBuffer {
            let rows = parts.reduce(0) { $0 + $1.1 }
            let b = FloatBuffer(count: rows * columns)
            var at = 0
            for (t, r) in parts {
                try source.read(t, shape: [r, columns], into: b.pointer + at * columns)
                at += r
            }
            return b
        }
        func loadVectors(_ parts: [(LlamaTensor, Int)]) throws -> FloatBuffer {
            let b = FloatBuffer(count: parts.reduce(0) { $0 + $1.1 })
            var at = 0
            for (t, n) in parts {
                try source.read(t, shape: [n], into: b.pointer + at)
                at += n
            }
            return b
        }
        let d = c.hiddenSize
        embedding = keepMatrix(try load(.embedding, [c.vocabSize, d]), c.vocabSize, d)
        var layers: [LlamaLayerWeights] = []
        let none = FloatBuffer(count: 0)
        for l in 0..<c.layers {
            layers.append(
                LlamaLayerWeights(
                    attnNorm: try load(.attnNorm(l), [d]),
                    qkv: keepMatrix(
                        try loadStacked([(.q(l), c.qSize), (.k(l), c.kvSize), (.v(l), c.kvSize)], columns: d),
                        c.qkvSize, d),
                    wo: keepMatrix(try load(.o(l), [d, c.qSize]), d, c.qSize),
                    ffnNorm: try load(.ffnNorm(l), [d]),
                    gateUp: keepMatrix(
                        try loadStacked([(.gate(l), c.ffnSize), (.up(l), c.ffnSize)], columns: d), 2 * c.ffnSize, d),
                    down: keepMatrix(try load(.down(l), [d, c.ffnSize]), d, c.ffnSize),
                    qNorm: c.family.qkNorm ? try load(.qNorm(l), [c.headDim]) : none,
                    kNorm: c.family.qkNorm ? try load(.kNorm(l), [c.headDim]) : none,
                    postAttnNorm: c.family.sandwichNorms ? try load(.postAttnNorm(l), [d]) : none,
                    postFFNNorm: c.family.sandwichNorms ? try load(.postFFNNorm(l), [d]) : none,
                    qkvBias: c.family.qkvBias
                        ? try loadVectors([(.qBias(l), c.qSize), (.kBias(l), c.kvSize), (.vBias(l), c.kvSize)])
                        : none))
        }
        self.layers = layers
        finalNorm = try load(.finalNorm, [d])
        outputHead = c.tiedEmbeddings ? embedding : keepMatrix(try load(.outputHead, [c.vocabSize, d]), c.vocabSize, d)
    }
}
