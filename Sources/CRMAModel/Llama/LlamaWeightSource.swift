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
    /// The encoding `tensor` is stored in, when ``readStored(_:shape:into:)`` can copy it as it is (nil:
    /// only ``read(_:shape:into:)`` can deliver it).
    func storedType(of tensor: LlamaTensor) -> GGMLType?
    /// Copies `tensor`'s stored blocks (`storedType(of:)`, `type.byteCount(elements:)` bytes) into `out`,
    /// rows in Hugging Face order (each row whole blocks).
    func readStored(_ tensor: LlamaTensor, shape: [Int], into out: UnsafeMutableRawPointer) throws
}

extension LlamaWeightSource {
    public func storedType(of tensor: LlamaTensor) -> GGMLType? { nil }
    public func readStored(_ tensor: LlamaTensor, shape: [Int], into out: UnsafeMutableRawPointer) throws {
        throw ModelFileError.notStoredInBlocks(tensor: "\(tensor)")
    }

    /// The `parts` read in order into one fp32 matrix of `columns` columns.
    func readStacked(_ parts: [LlamaMatrixPart], columns: Int) throws -> FloatBuffer {
        let b = FloatBuffer(count: parts.reduce(0) { $0 + $1.rows } * columns)
        var at = 0
        for part in parts {
            try read(part.tensor, shape: [part.rows, columns], into: b.pointer + at * columns)
            at += part.rows
        }
        return b
    }
}

/// One tensor's rows of a frozen matrix that may stack several (q, k, v; gate, up).
public struct LlamaMatrixPart: Sendable {
    public let tensor: LlamaTensor
    public let rows: Int
    public init(_ tensor: LlamaTensor, rows: Int) {
        self.tensor = tensor
        self.rows = rows
    }
}

extension LlamaWeights {
    /// Loads and converts every tensor of `source` to fp32.
    public init(source: some LlamaWeightSource) throws {
        try self.init(source: source, keepMatrix: { parts, cols in try source.readStacked(parts, columns: cols) })
    }

    /// Loads every tensor of `source`, leaving each frozen matrix (the embedding, the projections, an
    /// untied head: its stacked parts and columns) to `keepMatrix`, in that order, and keeping the buffer
    /// it returns (a bf16 or quantized model keeps the matrix its own way and returns an empty buffer: no
    /// fp32 copy of the whole model ever exists).
    init(source: some LlamaWeightSource, keepMatrix: (_ parts: [LlamaMatrixPart], _ cols: Int) throws -> FloatBuffer)
        throws
    {
        let c = source.config
        try c.validate()
        func load(_ t: LlamaTensor, _ shape: [Int]) throws -> FloatBuffer {
            let b = FloatBuffer(count: shape.reduce(1, *))
            try source.read(t, shape: shape, into: b.pointer)
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
        embedding = try keepMatrix([LlamaMatrixPart(.embedding, rows: c.vocabSize)], d)
        var layers: [LlamaLayerWeights] = []
        let none = FloatBuffer(count: 0)
        for l in 0..<c.layers {
            layers.append(
                LlamaLayerWeights(
                    attnNorm: try load(.attnNorm(l), [d]),
                    qkv: try keepMatrix(
                        [LlamaMatrixPart(.q(l), rows: c.qSize), LlamaMatrixPart(.k(l), rows: c.kvSize), LlamaMatrixPart(.v(l), rows: c.kvSize)], d),
                    wo: try keepMatrix([LlamaMatrixPart(.o(l), rows: d)], c.qSize),
                    ffnNorm: try load(.ffnNorm(l), [d]),
                    gateUp: try keepMatrix([LlamaMatrixPart(.gate(l), rows: c.ffnSize), LlamaMatrixPart(.up(l), rows: c.ffnSize)], d),
                    down: try keepMatrix([LlamaMatrixPart(.down(l), rows: d)], c.ffnSize),
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
        outputHead = c.tiedEmbeddings ? embedding : try keepMatrix([LlamaMatrixPart(.outputHead, rows: c.vocabSize)], d)
    }
}
