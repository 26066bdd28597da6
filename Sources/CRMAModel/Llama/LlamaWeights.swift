import CRMANumerics

/// One decoder layer's frozen weights in Hugging Face layout (`[out × in]`, row-major), with q/k/v and
/// gate/up fused so each runs as a single GEMM.
public struct LlamaLayerWeights: Sendable {
    /// `[hidden]`
    public let attnNorm: FloatBuffer
    /// `[(heads + 2·kvHeads)·headDim × hidden]`: rows of q, then k, then v.
    public let qkv: FloatBuffer
    /// `[hidden × heads·headDim]`
    public let wo: FloatBuffer
    /// `[hidden]`
    public let ffnNorm: FloatBuffer
    /// `[2·ffn × hidden]`: rows of gate, then up.
    public let gateUp: FloatBuffer
    /// `[hidden × ffn]`
    public let down: FloatBuffer
    /// `[headDim]` each: the QK-norm weights (``DecoderFamily/qkNorm``; empty without).
    public let qNorm: FloatBuffer
    public let kNorm: FloatBuffer
    /// `[hidden]` each: the norms on the attention and feed-forward outputs (``DecoderFamily/sandwichNorms``;
    /// empty without).
    public let postAttnNorm: FloatBuffer
    public let postFFNNorm: FloatBuffer
    /// `[(heads + 2·kvHeads)·headDim]`: the biases of q, then k, then v (``DecoderFamily/qkvBias``; empty
    /// without).
    public let qkvBias: FloatBuffer

    public init(
        attnNorm: FloatBuffer, qkv: FloatBuffer, wo: FloatBuffer, ffnNorm: FloatBuffer, gateUp: FloatBuffer,
        down: FloatBuffer, qNorm: FloatBuffer = FloatBuffer(count: 0), kNorm: FloatBuffer = FloatBuffer(count: 0),
        postAttnNorm: FloatBuffer = FloatBuffer(count: 0), postFFNNorm: FloatBuffer = FloatBuffer(count: 0),
        qkvBias: FloatBuffer = FloatBuffer(count: 0)
    ) {
        self.attnNorm = attnNorm
        self.qkv = qkv
        self.wo = wo
        self.ffnNorm = ffnNorm
        self.gateUp = gateUp
        self.down = down
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.postAttnNorm = postAttnNorm
        self.postFFNNorm = postFFNNorm
        self.qkvBias = qkvBias
    }

    /// The same layer with other projection matrices (the norms kept).
    public func replacingMatrices(qkv: FloatBuffer, wo: FloatBuffer, gateUp: FloatBuffer, down: FloatBuffer)
        -> LlamaLayerWeights
    {
        LlamaLayerWeights(
            attnNorm: attnNorm, qkv: qkv, wo: wo, ffnNorm: ffnNorm, gateUp: gateUp, down: down, qNorm: qNorm,
            kNorm: kNorm, postAttnNorm: postAttnNorm, postFFNNorm: postFFNNorm, qkvBias: qkvBias)
    }
}

/// All weights of a Llama-family model in fp32. In a bf16 or quantized ``LlamaModel`` the GEMM weights (projections,
/// head) and the embedding are empty buffers: read them through ``LlamaModel/frozenWeight(_:layer:)``,
/// ``LlamaModel/frozenHead()`` and ``LlamaModel/frozenEmbedding()``.
public struct LlamaWeights: Sendable {
    /// `[vocab × hidden]`
    public let embedding: FloatBuffer
    public let layers: [LlamaLayerWeights]
    /// `[hidden]`
    public let finalNorm: FloatBuffer
    /// `[vocab × hidden]`; the same buffer as `embedding` when tied.
    public let outputHead: FloatBuffer

    public init(embedding: FloatBuffer, layers: [LlamaLayerWeights], finalNorm: FloatBuffer, outputHead: FloatBuffer) {
        self.embedding = embedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.outputHead = outputHead
    }
}

extension LlamaWeights {
    /// The same weights without the fp32 GEMM weights and embedding (each an empty buffer): a bf16 or
    /// quantized model holds those its own way (``FrozenMatrix``).
    func withoutGEMMWeights() -> LlamaWeights {
        let none = FloatBuffer(count: 0)
        return LlamaWeights(
            embedding: none,
            layers: layers.map { $0.replacingMatrices(qkv: none, wo: none, gateUp: none, down: none) },
            finalNorm: finalNorm, outputHead: none)
    }
}
