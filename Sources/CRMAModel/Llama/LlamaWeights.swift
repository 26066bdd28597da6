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

    public init(
        attnNorm: FloatBuffer, qkv: FloatBuffer, wo: FloatBuffer, ffnNorm: FloatBuffer, gateUp: FloatBuffer,
        down: FloatBuffer
    ) {
        self.attnNorm = attnNorm
        self.qkv = qkv
        self.wo = wo
        self.ffnNorm = ffnNorm
        self.gateUp = gateUp
        self.down = down
    }
}

/// All weights of a Llama-family model in fp32. In a bf16 ``LlamaModel`` the GEMM weights (projections,
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
    /// The same weights without the fp32 GEMM weights and embedding (each an empty buffer): a bf16 model
    /// holds those in bf16 instead.
    func withoutGEMMWeights() -> LlamaWeights {
        let none = FloatBuffer(count: 0)
        return LlamaWeights(
            embedding: none,
            layers: layers.map {
                LlamaLayerWeights(attnNorm: $0.attnNorm, qkv: none, wo: none, ffnNorm: $0.ffnNorm, gateUp: none, down: none)
            },
            finalNorm: finalNorm, outputHead: none)
    }
}
