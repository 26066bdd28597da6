/// What sets a model family's decoder apart from Llama's: every switch is off for Llama (``llama``), and
/// the Gemma families (`gemma2(…)`, `gemma3(…)`), Qwen 2 (``qwen2``) and Qwen 3 (``qwen3``) turn on theirs. One forward and one backward pass serve
/// every family, reading these switches.
public struct DecoderFamily: Sendable, Equatable, Codable {
    /// The gated feed-forward's activation.
    public enum Activation: String, Sendable, Codable {
        /// `silu(gate) · up` (Llama).
        case swiGLU
        /// `gelu_tanh(gate) · up` (Gemma).
        case geGLU
    }

    /// `llama`, `gemma2`, `gemma3`, `qwen2` or `qwen3`: the architecture name GGUF files carry.
    public var name: String
    /// The q, k and v projections add a bias (Qwen 2; not o, not the feed-forward).
    public var qkvBias = false
    /// The token embeddings are multiplied by this (Gemma: √hidden).
    public var embeddingScale: Float = 1
    public var activation: Activation = .swiGLU
    /// An RMSNorm over each q and k head (its own `[headDim]` weight, shared by the heads) before RoPE.
    public var qkNorm = false
    /// An RMSNorm on the attention block's and the feed-forward block's output before each is added to the
    /// residual stream ("sandwich" norms: Gemma's post-attention and post-feed-forward norms).
    public var sandwichNorms = false
    /// nil: 1/√headDim.
    public var attentionScale: Float?
    /// Attention scores become `cap · tanh(score / cap)` before the softmax (Gemma 2).
    public var attentionSoftcap: Float?
    /// Logits become `cap · tanh(logit / cap)` (Gemma 2).
    public var finalSoftcap: Float?
    /// Keys a query of a sliding-window layer sees, itself included (0: no such layers).
    public var slidingWindow = 0
    /// Which layers use the sliding window (empty: none).
    public var slidingLayers: [Bool] = []
    /// The rotary base of the sliding-window layers (nil: the model's).
    public var slidingRopeTheta: Float?

    /// The Llama decoder: no switch on.
    public static let llama = DecoderFamily(name: "llama")

    /// Qwen 2: Llama's decoder with biases on q, k and v.
    public static let qwen2: DecoderFamily = {
        var f = DecoderFamily(name: "qwen2")
        f.qkvBias = true
        return f
    }()

    /// Qwen 3: Llama's decoder with an RMSNorm over each q and k head before RoPE (QK-norm), and no biases.
    public static let qwen3: DecoderFamily = {
        var f = DecoderFamily(name: "qwen3")
        f.qkNorm = true
        return f
    }()

    /// Gemma 2 and Gemma 3, whose checkpoints store norm weights as w for a model that multiplies by 1 + w.
    public var isGemma: Bool { Gemma.ggufArchitectures.contains(name) }

    public func isSliding(layer l: Int) -> Bool {
        slidingWindow > 0 && l < slidingLayers.count && slidingLayers[l]
    }

    /// Gemma 2: sandwich norms, GeGLU, √hidden-scaled embeddings, soft-capped attention scores and logits,
    /// and every even layer (0, 2, …) a sliding-window layer.
    public static func gemma2(
        layers: Int, hiddenSize: Int, slidingWindow: Int, attentionScale: Float, attentionSoftcap: Float?,
        finalSoftcap: Float?
    ) -> DecoderFamily {
        var f = DecoderFamily(name: "gemma2")
        f.gemmaCommon(hiddenSize: hiddenSize)
        f.attentionScale = attentionScale
        f.attentionSoftcap = attentionSoftcap
        f.finalSoftcap = finalSoftcap
        f.slidingWindow = slidingWindow
        f.slidingLayers = (0..<layers).map { $0 % 2 == 0 }
        return f
    }

    /// Gemma 3: Gemma 2 without soft-capping but with QK-norm; of every `slidingPattern` layers the last is
    /// global and the others slide, with their own rotary base.
    public static func gemma3(
        layers: Int, hiddenSize: Int, slidingWindow: Int, slidingPattern: Int, attentionScale: Float,
        slidingRopeTheta: Float, finalSoftcap: Float?
    ) -> DecoderFamily {
        var f = DecoderFamily(name: "gemma3")
        f.gemmaCommon(hiddenSize: hiddenSize)
        f.qkNorm = true
        f.attentionScale = attentionScale
        f.finalSoftcap = finalSoftcap
        f.slidingWindow = slidingWindow
        f.slidingLayers = (0..<layers).map { slidingPattern <= 1 ? false : ($0 + 1) % slidingPattern != 0 }
        f.slidingRopeTheta = slidingRopeTheta
        return f
    }

    private mutating func gemmaCommon(hiddenSize: Int) {
        embeddingScale = Float(hiddenSize).squareRoot()
        activation = .geGLU
        sandwichNorms = true
    }

    func validate(layers: Int) throws {
        func bad(_ reason: String) -> ModelFileError { .invalidHeader("model config (\(name)): \(reason)") }
        guard embeddingScale > 0, embeddingScale.isFinite else { throw bad("embedding scale must be positive") }
        if let s = attentionScale, !(s > 0 && s.isFinite) { throw bad("attention scale must be positive") }
        for cap in [attentionSoftcap, finalSoftcap].compactMap({ $0 }) where !(cap > 0 && cap.isFinite) {
            throw bad("soft-caps must be positive")
        }
        guard slidingWindow >= 0 else { throw bad("sliding window must not be negative") }
        guard slidingLayers.isEmpty || slidingLayers.count == layers else {
            throw bad("\(slidingLayers.count) sliding-window flags for \(layers) layers")
        }
        if let t = slidingRopeTheta, !(t > 0) { throw bad("rope theta must be positive") }
    }
}
