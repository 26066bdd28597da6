/// The hyper-parameters of a decoder of the Llama family (Llama, Mistral, SmolLM2, TinyLlama) or of the
/// Gemma family (Gemma 2, Gemma 3), which is a Llama decoder with a few switches set (``DecoderFamily``).
public struct LlamaConfig: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ffnSize: Int
    public var vocabSize: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float
    public var tiedEmbeddings: Bool
    public var contextLength: Int
    /// What sets the family's decoder apart from Llama's (nothing, for Llama).
    public var family: DecoderFamily

    public init(
        hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int, headDim: Int? = nil, ffnSize: Int, vocabSize: Int,
        ropeTheta: Float = 10_000, rmsNormEps: Float = 1e-5, tiedEmbeddings: Bool, contextLength: Int = 2048,
        family: DecoderFamily = .llama
    ) {
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim ?? hiddenSize / heads
        self.ffnSize = ffnSize
        self.vocabSize = vocabSize
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.tiedEmbeddings = tiedEmbeddings
        self.contextLength = contextLength
        self.family = family
    }

    /// The scale of attention scores: the family's, else 1/√headDim.
    public var attentionScale: Float { family.attentionScale ?? 1 / Float(headDim).squareRoot() }

    /// How many keys (itself included) a query of layer `l` sees: nil for a global layer, the window for a
    /// sliding-window layer.
    public func window(layer l: Int) -> Int? { family.isSliding(layer: l) ? family.slidingWindow : nil }

    /// The rotary base of layer `l` (Gemma 3's sliding-window layers have their own).
    public func ropeTheta(layer l: Int) -> Float {
        family.isSliding(layer: l) ? (family.slidingRopeTheta ?? ropeTheta) : ropeTheta
    }

    /// Width of the fused q, k, v projection output.
    public var qkvSize: Int { (heads + 2 * kvHeads) * headDim }
    public var qSize: Int { heads * headDim }
    public var kvSize: Int { kvHeads * headDim }

    /// Weights of every matrix multiply per token (output head included): forward FLOPs per token are
    /// twice this plus attention's `4 × layers × hidden × context`.
    public var matmulWeights: Int {
        let perLayer = hiddenSize * qkvSize + qSize * hiddenSize + 3 * hiddenSize * ffnSize
        return layers * perLayer + vocabSize * hiddenSize
    }

    /// Checks the relationships the forward pass relies on.
    public func validate() throws {
        func bad(_ reason: String) -> ModelFileError { .invalidHeader("model config: \(reason)") }
        guard hiddenSize > 0, layers > 0, heads > 0, kvHeads > 0, ffnSize > 0, vocabSize > 0 else {
            throw bad("sizes must be positive")
        }
        guard heads % kvHeads == 0 else { throw bad("\(heads) heads is not a multiple of \(kvHeads) kv heads") }
        guard headDim > 0, headDim % 2 == 0 else { throw bad("head dimension \(headDim) must be even") }
        guard hiddenSize <= 1 << 16, ffnSize <= 1 << 18, vocabSize <= 1 << 21, layers <= 512 else {
            throw bad("implausibly large")
        }
        guard ropeTheta > 0, rmsNormEps > 0 else { throw bad("rope theta and rms eps must be positive") }
        try family.validate(layers: layers)
    }
}
