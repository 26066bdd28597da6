import Foundation

/// The Gemma family (Gemma 2, Gemma 3): how its checkpoints describe it. A Gemma decoder is a Llama
/// decoder with the switches of ``DecoderFamily`` set, so this file only reads hyper-parameters and names
/// tensors; the forward and backward passes are the Llama ones.
///
/// Facts the readers rely on (llama.cpp's and transformers' Gemma code agree on each):
/// - GGUF files store every RMSNorm weight as `1 + w` (the converter adds the one); Hugging Face
///   checkpoints store `w` and the model computes `x̂ · (1 + w)`: ``HFModelDirectory`` adds the one at load,
///   so both formats reach the same weights.
/// - Gemma's GGUF q and k rows are in Hugging Face order (llama.cpp permutes q/k rows for Llama only).
/// - Attention scores are scaled by `query_pre_attn_scalar^-½`; GGUF has no such key, and llama.cpp uses
///   1/√headDim except for the 27B models (1/√(hidden/heads)).
/// - Gemma 2 alternates sliding-window (even) and global (odd) layers and soft-caps attention scores (50)
///   and logits (30); Gemma 3 makes every sixth layer global (5, 11, 17, …), uses rotary base 10,000 on
///   sliding-window layers and the model's base (1,000,000) on global ones, and has QK-norm instead of
///   soft-capping.
public enum Gemma {
    /// Architecture names this family covers, as GGUF's `general.architecture` spells them.
    public static let ggufArchitectures: Set<String> = ["gemma2", "gemma3"]
    /// Hugging Face `architectures` entries this family covers.
    public static let hfArchitectures: [String: String] = [
        "Gemma2ForCausalLM": "gemma2", "Gemma3ForCausalLM": "gemma3",
    ]

    /// The config of a Gemma GGUF file (`arch` is `gemma2` or `gemma3`).
    static func config(gguf: GGUFFile, arch: String) throws -> LlamaConfig {
        let m = gguf.metadata
        func key(_ k: String) -> String { "\(arch).\(k)" }
        let d = try gguf.int(key("embedding_length")), layers = try gguf.int(key("block_count"))
        let heads = try gguf.int(key("attention.head_count"))
        let headDim = m[key("attention.key_length")]?.int ?? d / max(heads, 1)
        let vocab = m[key("vocab_size")]?.int ?? m["tokenizer.ggml.tokens"]?.array?.count
        guard let vocab else { throw ModelFileError.missingMetadata(key("vocab_size")) }
        let theta = Float(m[key("rope.freq_base")]?.double ?? 10_000)
        if let factor = m[key("rope.scaling.factor")]?.double, factor != 1 {
            throw unscaledRopeOnly(factor)
        }
        let window = m[key("attention.sliding_window")]?.int ?? (arch == "gemma2" ? 4096 : 0)
        let scale = attentionScale(layers: layers, arch: arch, hiddenSize: d, heads: heads, headDim: headDim)
        func cap(_ k: String, default value: Float?) -> Float? {
            guard let v = m[key(k)]?.double else { return value }
            return v > 0 ? Float(v) : nil
        }
        var family: DecoderFamily
        if arch == "gemma2" {
            family = .gemma2(
                layers: layers, hiddenSize: d, slidingWindow: window, attentionScale: scale,
                attentionSoftcap: cap("attn_logit_softcapping", default: 50),
                finalSoftcap: cap("final_logit_softcapping", default: 30))
        } else {
            family = .gemma3(
                layers: layers, hiddenSize: d, slidingWindow: window,
                slidingPattern: m[key("attention.sliding_window_pattern")]?.int ?? 6, attentionScale: scale,
                slidingRopeTheta: Float(m[key("rope.freq_base_swa")]?.double ?? 10_000),
                finalSoftcap: cap("final_logit_softcapping", default: nil))
            // A per-layer pattern (true: sliding window) overrides the period.
            if let flags = m[key("attention.sliding_window_pattern")]?.array?.compactMap(\.bool), flags.count == layers {
                family.slidingLayers = flags
            }
        }
        if arch == "gemma2", let swa = m[key("rope.freq_base_swa")]?.double { family.slidingRopeTheta = Float(swa) }
        return LlamaConfig(
            hiddenSize: d, layers: layers, heads: heads, kvHeads: m[key("attention.head_count_kv")]?.int ?? heads,
            headDim: headDim, ffnSize: try gguf.int(key("feed_forward_length")), vocabSize: vocab, ropeTheta: theta,
            rmsNormEps: Float(try gguf.double(key("attention.layer_norm_rms_epsilon"))),
            tiedEmbeddings: gguf.tensor("output.weight") == nil,
            contextLength: m[key("context_length")]?.int ?? 8192, family: family)
    }

    /// Gemma 3 4B, 12B and 27B stretch the global layers' positions (linear rotary scaling, factor 8); this
    /// runtime does not, so such a model is refused rather than run with wrong positions.
    static func unscaledRopeOnly(_ factor: Double) -> ModelFileError {
        .invalidHeader("rotary scaling (factor \(factor)) is not supported yet: only Gemma models without it (e.g. Gemma 3 270M and 1B, Gemma 2) load")
    }

    /// llama.cpp's rule: 1/√headDim, except the 27B models (Gemma 2: 46 layers; Gemma 3: 62), which scale
    /// by 1/√(hidden/heads) as their `query_pre_attn_scalar` says.
    static func attentionScale(layers: Int, arch: String, hiddenSize: Int, heads: Int, headDim: Int) -> Float {
        let is27B = (arch == "gemma2" && layers == 46) || (arch == "gemma3" && layers == 62)
        return 1 / Float(is27B ? hiddenSize / heads : headDim).squareRoot()
    }

    /// The config of a Hugging Face `config.json` of a Gemma model (`arch` is `gemma2` or `gemma3`).
    static func config(json: [String: Any], arch: String) throws -> LlamaConfig {
        func int(_ k: String) throws -> Int {
            guard let v = json[k] as? Int else { throw ModelFileError.missingMetadata("config.json: \(k)") }
            return v
        }
        func double(_ k: String) -> Double? { number(json[k]) }
        let d = try int("hidden_size"), heads = try int("num_attention_heads"), layers = try int("num_hidden_layers")
        let headDim = json["head_dim"] as? Int ?? d / max(heads, 1)
        let scale = 1 / Float(double("query_pre_attn_scalar") ?? Double(headDim)).squareRoot()
        // An explicit null means no sliding window.
        let window = json["sliding_window"] is NSNull ? 0 : json["sliding_window"] as? Int ?? 4096
        var theta = Float(double("rope_theta") ?? 10_000)
        var localTheta = Float(double("rope_local_base_freq") ?? 10_000)
        // transformers 5 nests the bases per layer type.
        if let params = json["rope_parameters"] as? [String: Any] {
            if let full = number((params["full_attention"] as? [String: Any])?["rope_theta"]) {
                theta = Float(full)
            } else if let t = number(params["rope_theta"]) {
                theta = Float(t)
            }
            if let local = number((params["sliding_attention"] as? [String: Any])?["rope_theta"]) {
                localTheta = Float(local)
            }
        }
        let scaling = [json["rope_scaling"], (json["rope_parameters"] as? [String: Any])?["full_attention"]]
            .compactMap { ($0 as? [String: Any]).flatMap { number($0["factor"]) } }
        if let factor = scaling.first(where: { $0 != 1 }) { throw unscaledRopeOnly(factor) }
        var family: DecoderFamily
        if arch == "gemma2" {
            family = .gemma2(
                layers: layers, hiddenSize: d, slidingWindow: window, attentionScale: scale,
                attentionSoftcap: double("attn_logit_softcapping").map(Float.init),
                finalSoftcap: double("final_logit_softcapping").map(Float.init))
        } else {
            family = .gemma3(
                layers: layers, hiddenSize: d, slidingWindow: window,
                slidingPattern: json["sliding_window_pattern"] as? Int ?? 6, attentionScale: scale,
                slidingRopeTheta: localTheta, finalSoftcap: double("final_logit_softcapping").map(Float.init))
            family.attentionSoftcap = double("attn_logit_softcapping").map(Float.init)
        }
        if let types = json["layer_types"] as? [String], types.count == layers {
            family.slidingLayers = types.map { $0 == "sliding_attention" }
        }
        return LlamaConfig(
            hiddenSize: d, layers: layers, heads: heads, kvHeads: json["num_key_value_heads"] as? Int ?? heads,
            headDim: headDim, ffnSize: try int("intermediate_size"), vocabSize: try int("vocab_size"),
            ropeTheta: theta, rmsNormEps: Float(double("rms_norm_eps") ?? 1e-6),
            tiedEmbeddings: json["tie_word_embeddings"] as? Bool ?? true,
            contextLength: json["max_position_embeddings"] as? Int ?? 8192, family: family)
    }

    /// Hugging Face tensor names of a Gemma checkpoint.
    static func hfName(of t: LlamaTensor) -> String {
        // Llama's post-attention norm is the feed-forward block's input norm; Gemma's has its own name, and
        // `post_attention_layernorm` is the attention output's sandwich norm (HFModelDirectory's table).
        if case .ffnNorm(let l) = t { return "model.layers.\(l).pre_feedforward_layernorm.weight" }
        return HFModelDirectory.llamaName(of: t)
    }

    /// Whether a Hugging Face Gemma tensor is an RMSNorm weight, stored as `w` for `x̂ · (1 + w)`.
    static func isNorm(_ t: LlamaTensor) -> Bool {
        switch t {
        case .attnNorm, .ffnNorm, .postAttnNorm, .postFFNNorm, .qNorm, .kNorm, .finalNorm: true
        default: false
        }
    }
}

/// A JSON number as Foundation's parser returns it (an integer or a floating-point number), or nil.
func number(_ value: Any?) -> Double? {
    if let d = value as? Double { return d }
    if let i = value as? Int { return Double(i) }
    return (value as? NSNumber)?.doubleValue
}
