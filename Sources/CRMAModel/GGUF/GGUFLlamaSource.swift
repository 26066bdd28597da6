/// Reads Llama-, Gemma- and Qwen-family weights from a GGUF file (llama.cpp's tensor names and metadata
/// keys).
///
/// For Llama, llama.cpp's converter permutes the rows of the q and k projections so that its rotary
/// embedding can rotate adjacent pairs; this source undoes that permutation, so every model in this runtime
/// uses the Hugging Face layout (rotate-half RoPE) and adapters export with Hugging Face semantics. Gemma
/// and Qwen files keep Hugging Face's order (llama.cpp rotates them in its "NEOX" mode, which is
/// rotate-half), so nothing is undone for them.
public struct GGUFLlamaSource: LlamaWeightSource {
    public let gguf: GGUFFile
    public let config: LlamaConfig

    public init(_ gguf: GGUFFile) throws {
        self.gguf = gguf
        let arch = try gguf.string("general.architecture")
        if Gemma.ggufArchitectures.contains(arch) {
            config = try Gemma.config(gguf: gguf, arch: arch)
            return
        }
        let families: [String: DecoderFamily] = ["llama": .llama, "mistral": .llama, "qwen2": .qwen2, "qwen3": .qwen3]
        guard let family = families[arch] else { throw ModelFileError.unsupportedArchitecture(arch) }
        func key(_ k: String) -> String { "\(arch).\(k)" }
        let d = try gguf.int(key("embedding_length"))
        let heads = try gguf.int(key("attention.head_count"))
        let vocab: Int
        if let v = gguf.metadata[key("vocab_size")]?.int {
            vocab = v
        } else if let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.array {
            vocab = tokens.count
        } else {
            throw ModelFileError.missingMetadata(key("vocab_size"))
        }
        config = LlamaConfig(
            hiddenSize: d,
            layers: try gguf.int(key("block_count")),
            heads: heads,
            kvHeads: gguf.metadata[key("attention.head_count_kv")]?.int ?? heads,
            headDim: gguf.metadata[key("attention.key_length")]?.int ?? d / max(heads, 1),
            ffnSize: try gguf.int(key("feed_forward_length")),
            vocabSize: vocab,
            ropeTheta: Float(gguf.metadata[key("rope.freq_base")]?.double ?? 10_000),
            rmsNormEps: Float(try gguf.double(key("attention.layer_norm_rms_epsilon"))),
            tiedEmbeddings: gguf.tensor("output.weight") == nil,
            contextLength: gguf.metadata[key("context_length")]?.int ?? 2048,
            family: family)
    }

    public static func name(of t: LlamaTensor) -> String {
        switch t {
        case .embedding: "token_embd.weight"
        case .finalNorm: "output_norm.weight"
        case .outputHead: "output.weight"
        case .attnNorm(let l): "blk.\(l).attn_norm.weight"
        case .q(let l): "blk.\(l).attn_q.weight"
        case .k(let l): "blk.\(l).attn_k.weight"
        case .v(let l): "blk.\(l).attn_v.weight"
        case .o(let l): "blk.\(l).attn_output.weight"
        case .ffnNorm(let l): "blk.\(l).ffn_norm.weight"
        case .gate(let l): "blk.\(l).ffn_gate.weight"
        case .up(let l): "blk.\(l).ffn_up.weight"
        case .down(let l): "blk.\(l).ffn_down.weight"
        case .qNorm(let l): "blk.\(l).attn_q_norm.weight"
        case .kNorm(let l): "blk.\(l).attn_k_norm.weight"
        case .postAttnNorm(let l): "blk.\(l).post_attention_norm.weight"
        case .postFFNNorm(let l): "blk.\(l).post_ffw_norm.weight"
        case .qBias(let l): "blk.\(l).attn_q.bias"
        case .kBias(let l): "blk.\(l).attn_k.bias"
        case .vBias(let l): "blk.\(l).attn_v.bias"
        }
    }

    public func contains(_ t: LlamaTensor) -> Bool { gguf.tensor(Self.name(of: t)) != nil }

    /// `body` with tensor `t`'s info and bytes, once its shape is checked against `shape` (Hugging Face
    /// order); then the file's pages of it are released (read once at load).
    private func withTensor<R>(
        _ t: LlamaTensor, shape: [Int], _ body: (GGUFTensorInfo, UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        let name = Self.name(of: t)
        guard let info = gguf.tensor(name) else { throw ModelFileError.missingTensor(name) }
        guard Array(info.dims.reversed()) == shape else {
            throw ModelFileError.wrongTensorShape(tensor: name, expected: shape, found: info.dims.reversed())
        }
        defer { gguf.file.release((gguf.dataOffset + info.offset)..<(gguf.dataOffset + info.offset + info.byteCount)) }
        return try body(info, gguf.data(of: info))
    }

    /// For Llama's q and k, the number of heads whose rows llama.cpp permuted; nil for every other tensor.
    private func permutedHeads(_ t: LlamaTensor) -> Int? {
        guard config.family == .llama else { return nil }
        switch t {
        case .q: return config.heads
        case .k: return config.kvHeads
        default: return nil
        }
    }

    public func read(_ t: LlamaTensor, shape: [Int], into out: UnsafeMutablePointer<Float>) throws {
        try withTensor(t, shape: shape) { info, data in
            let count = info.elementCount
            guard let heads = permutedHeads(t) else {
                Dequantize.run(info.type, data, count: count, into: out)
                return
            }
            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { tmp.deallocate() }
            Dequantize.run(info.type, data, count: count, into: tmp)
            Self.unpermuteRotaryRows(tmp, into: out, heads: heads, headDim: config.headDim, columns: shape[1])
        }
    }

    public func storedType(of t: LlamaTensor) -> GGMLType? { gguf.tensor(Self.name(of: t))?.type }

    /// Copies the tensor's blocks as stored; Llama's q and k rows are put back in Hugging Face order (each
    /// row is whole blocks, so rows move as bytes).
    public func readStored(_ t: LlamaTensor, shape: [Int], into out: UnsafeMutableRawPointer) throws {
        try withTensor(t, shape: shape) { info, data in
            guard let heads = permutedHeads(t) else {
                out.copyMemory(from: data.baseAddress!, byteCount: info.byteCount)
                return
            }
            Self.moveRotaryRows(
                data.baseAddress!, into: out, heads: heads, headDim: config.headDim, rowBytes: info.byteCount / shape[0],
                toGGUF: false)
        }
    }

    /// llama.cpp's q/k row permutation (what its converter does; ``unpermuteRotaryRows`` undoes it): within
    /// each head, Hugging Face row `j·(headDim/2) + i` goes to GGUF row `2i + j`. For exports to GGUF.
    public static func permuteRotaryRows(
        _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, columns: Int
    ) {
        moveRotaryRows(src, into: dst, heads: heads, headDim: headDim, rowBytes: 4 * columns, toGGUF: true)
    }

    /// Inverts llama.cpp's q/k row permutation. Within each head, GGUF row `2i + j` holds Hugging Face
    /// row `j·(headDim/2) + i` (i < headDim/2, j ∈ {0, 1}).
    public static func unpermuteRotaryRows(
        _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, columns: Int
    ) {
        moveRotaryRows(src, into: dst, heads: heads, headDim: headDim, rowBytes: 4 * columns, toGGUF: false)
    }

    /// Moves whole rows of `rowBytes` bytes (floats, or a row's quantized blocks).
    private static func moveRotaryRows(
        _ src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer, heads: Int, headDim: Int, rowBytes: Int, toGGUF: Bool
    ) {
        let half = headDim / 2
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let gguf = h * headDim + 2 * i + j, hf = h * headDim + j * half + i
                    (dst + (toGGUF ? gguf : hf) * rowBytes).copyMemory(
                        from: src + (toGGUF ? hf : gguf) * rowBytes, byteCount: rowBytes)
                }
            }
        }
    }
}
