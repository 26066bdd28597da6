import CRMANumerics

/// A Llama-family decoder in fp32: RMSNorm, rotary embeddings, grouped-query causal attention, SwiGLU MLP,
/// tied or untied output head; and the Gemma families, which switch on what ``DecoderFamily`` lists (scaled
/// embeddings, QK-norm, sandwich norms, GeGLU, sliding-window layers, soft-capping). GEMMs run on OpenBLAS (fp32, and quantized weights dequantized into fp32 panels) or oneDNN (bf16, ``Precision``); everything else
/// in the kernels of `CRMANumerics`.
///
/// - Important: a model is immutable after loading and may be shared; each forward call uses its own
///   activations (a caller-owned ``ForwardWorkspace``). `@unchecked Sendable` rests on that immutability.
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let weights: LlamaWeights
    public let rope: RotaryEmbedding
    /// The sliding-window layers' rotary embedding when their base differs (Gemma 3; ``rope(layer:)``).
    let slidingRope: RotaryEmbedding?
    /// The arithmetic of the frozen GEMMs (``Precision``).
    public let precision: Precision
    /// The GEMM weights and embedding when `precision` is bf16 or quantized (`weights` then holds empty
    /// buffers in their place).
    let frozenMatrices: FrozenMatrices?

    /// - Precondition: bf16 only where ``BF16/available`` (``Precision/parse(_:)`` checks it); not
    ///   quantized, which needs the file's blocks (``init(source:precision:)``).
    public init(config: LlamaConfig, weights: LlamaWeights, precision: Precision = .fp32) {
        precondition(precision != .bf16 || BF16.available, "bf16 needs AVX512-BF16 and executable memory (Precision.parse)")
        precondition(precision != .quantized, "a quantized model is loaded from its file (init(source:precision:))")
        self.config = config
        self.precision = precision
        if precision == .bf16 {
            // The GEMM weights live in bf16 only: their fp32 buffers are dropped (``frozenWeight(_:layer:)``
            // widens one back when an adapter needs it).
            frozenMatrices = FrozenMatrices(bf16: weights, config: config)
            self.weights = weights.withoutGEMMWeights()
        } else {
            frozenMatrices = nil
            self.weights = weights
        }
        (rope, slidingRope) = Self.rotaryEmbeddings(config)
    }

    /// A model whose GEMM weights are already bf16 or quantized matrices (`weights` without them).
    init(config: LlamaConfig, strippedWeights: LlamaWeights, frozen: FrozenMatrices, precision: Precision) {
        self.config = config
        self.precision = precision
        frozenMatrices = frozen
        weights = strippedWeights
        (rope, slidingRope) = Self.rotaryEmbeddings(config)
    }

    static func rotaryEmbeddings(_ c: LlamaConfig) -> (RotaryEmbedding, RotaryEmbedding?) {
        let positions = max(c.contextLength, 1)
        let global = RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta, maxPositions: positions)
        guard let theta = c.family.slidingRopeTheta, theta != c.ropeTheta, c.family.slidingLayers.contains(true) else {
            return (global, nil)
        }
        return (global, RotaryEmbedding(headDim: c.headDim, theta: theta, maxPositions: positions))
    }

    /// Loads `source`. In bf16 each GEMM weight is converted as soon as it is read, so the fp32 copy of
    /// the whole model never exists (peak memory stays near the bf16 model's). Quantized keeps each GEMM
    /// weight in the file's own blocks (``QuantizedMatrix``; throws when the source cannot give them).
    public convenience init(source: some LlamaWeightSource, precision: Precision = .fp32) throws {
        let c = source.config
        let make: (_ parts: [LlamaMatrixPart], _ cols: Int) throws -> any FrozenMatrix
        switch precision {
        case .fp32:
            try self.init(config: c, weights: LlamaWeights(source: source), precision: .fp32)
            return
        case .bf16:
            precondition(BF16.available, "bf16 needs AVX512-BF16 and executable memory (Precision.parse)")
            make = { parts, cols in
                let w = try source.readStacked(parts, columns: cols)
                let isEmbedding = parts.first?.tensor == .embedding
                let layout = isEmbedding ? FrozenMatrices.bf16EmbeddingLayout(tiedHead: c.tiedEmbeddings) : .blocked
                return BF16Matrix(w.pointer, rows: w.count / cols, cols: cols, layout: layout)
            }
        case .quantized:
            make = { parts, cols in try QuantizedMatrix(source: source, parts: parts, cols: cols) }
        }
        var made: [any FrozenMatrix] = []
        let none = FloatBuffer(count: 0)
        let stripped = try LlamaWeights(source: source) { parts, cols in
            made.append(try make(parts, cols))
            return none
        }
        self.init(
            config: c, strippedWeights: stripped, frozen: FrozenMatrices(inLoadOrder: made, tiedHead: c.tiedEmbeddings),
            precision: precision)
    }

    /// The final hidden states (after the last RMSNorm), `[batch·seqLen × hidden]`, for `tokens` laid out
    /// as `batch` sequences of `seqLen` tokens. With a `cache` (batch 1 only), positions continue after
    /// the cached ones and the new keys and values are appended. With a `workspace`, activations are
    /// reused across calls and the returned buffer belongs to it (overwritten by its next use); `clock`
    /// accumulates time per phase. `adapters` (LoRA, CRMA) apply as in the training pass, so their keys
    /// and values go into the cache: a cache filled under one adapter set serves only that set.
    public func hiddenStates(
        tokens: [Int32], batch: Int, seqLen: Int, cache: KVCache? = nil, workspace: ForwardWorkspace? = nil,
        adapters hooks: (any LlamaAdapterHooks)? = nil, clock: PhaseClock? = nil
    ) -> FloatBuffer {
        precondition(tokens.count == batch * seqLen, "tokens must be batch × seqLen")
        precondition(cache == nil || batch == 1, "a KV cache holds one sequence")
        let past = cache?.length ?? 0
        precondition(past + seqLen <= config.contextLength, "sequence longer than the model's context")
        if let cache { precondition(past + seqLen <= cache.capacity, "KV cache full") }

        let hidden = decoderForward(
            tokens: tokens, attention: .causal(batch: batch, seqLen: seqLen, cache: cache), hooks: hooks,
            workspace: workspace ?? ForwardWorkspace(), saved: nil, clock: clock, phases: .inference)
        cache?.length = past + seqLen
        return hidden
    }

    /// Logits `[rows × vocab]` for `rows` hidden states starting at `hidden`.
    public func logits(hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        if let head = frozenMatrices?.outputHead {
            head.linear(hidden, rows: rows, into: out, accumulate: false)
        } else {
            BLAS.linear(
                hidden, rows: rows, inFeatures: config.hiddenSize, weight: weights.outputHead.pointer,
                outFeatures: config.vocabSize, into: out)
        }
        softcapLogits(out, count: rows * config.vocabSize)
    }

    /// Logits for every position, `[batch·seqLen × vocab]`.
    public func logits(tokens: [Int32], batch: Int = 1, seqLen: Int? = nil, cache: KVCache? = nil) -> FloatBuffer {
        let t = seqLen ?? tokens.count
        let h = hiddenStates(tokens: tokens, batch: batch, seqLen: t, cache: cache)
        let out = FloatBuffer(count: batch * t * config.vocabSize)
        logits(hidden: h.pointer, rows: batch * t, into: out.pointer)
        return out
    }
}
