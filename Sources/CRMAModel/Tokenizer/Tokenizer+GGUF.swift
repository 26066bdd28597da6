extension Tokenizer {
    /// Loads the tokenizer stored in GGUF metadata (`tokenizer.ggml.*`): model `gpt2` (byte-level BPE
    /// with merges) or `llama` (SentencePiece BPE with scores and byte fallback).
    public init(gguf: GGUFFile) throws {
        let m = gguf.metadata
        let model = try gguf.string("tokenizer.ggml.model")
        guard let tokenValues = m["tokenizer.ggml.tokens"]?.array else {
            throw ModelFileError.missingMetadata("tokenizer.ggml.tokens")
        }
        let tokens = try tokenValues.map { v -> String in
            guard let s = v.string else {
                throw ModelFileError.wrongMetadataType(key: "tokenizer.ggml.tokens", expected: "string array")
            }
            return s
        }
        let types = m["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? []
        func id(_ key: String) -> Int32? {
            guard let v = m[key]?.int, v >= 0, v < tokens.count else { return nil }
            return Int32(v)
        }
        // Unknown (2), control (3) and user-defined (4) tokens are matched verbatim in text; byte tokens (6) are not.
        var specials: [(String, Int32)] = []
        for (i, t) in types.enumerated() where (2...4).contains(t) && i < tokens.count && !tokens[i].isEmpty {
            specials.append((tokens[i], Int32(i)))
        }
        let template = m["tokenizer.chat_template"]?.string
        switch model {
        case "gpt2":
            guard let mergeValues = m["tokenizer.ggml.merges"]?.array else {
                throw ModelFileError.missingMetadata("tokenizer.ggml.merges")
            }
            let merges = try mergeValues.map { v -> (String, String) in
                guard let s = v.string, let sp = s.firstIndex(of: " ") else {
                    throw ModelFileError.wrongMetadataType(
                        key: "tokenizer.ggml.merges", expected: "list of \"a b\" strings")
                }
                return (String(s[..<sp]), String(s[s.index(after: sp)...]))
            }
            let pre = m["tokenizer.ggml.pre"]?.string ?? "default"
            self.init(
                kind: .byteLevel, model: BPEModel(tokens: tokens, merges: merges),
                preTokenizer: Self.byteLevelPreTokenizer(named: pre), specialTokens: specials,
                bosID: id("tokenizer.ggml.bos_token_id"), eosID: id("tokenizer.ggml.eos_token_id"),
                // Hugging Face's byte-level tokenizers add no BOS; follow them so ids match the reference.
                addBOS: false, addSpacePrefix: false, chatTemplate: template,
                normalizesToNFC: Self.byteLevelNormalizesToNFC(pre: pre))
        case "llama":
            let scores =
                m["tokenizer.ggml.scores"]?.array?.compactMap { $0.double.map(Float.init) }
                ?? [Float](repeating: 0, count: tokens.count)
            guard scores.count == tokens.count else {
                throw ModelFileError.wrongMetadataType(key: "tokenizer.ggml.scores", expected: "one score per token")
            }
            self.init(
                kind: .sentencePiece,
                model: BPEModel(
                    tokens: tokens, scores: scores, byteFallback: true, unknownID: id("tokenizer.ggml.unknown_token_id")
                ),
                preTokenizer: PreTokenizer(steps: []), specialTokens: specials,
                bosID: id("tokenizer.ggml.bos_token_id"), eosID: id("tokenizer.ggml.eos_token_id"),
                addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? true,
                addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.bool ?? true, chatTemplate: template,
                textTokenIDs: Set(types.indices.filter { types[$0] == 4 && $0 < tokens.count }.map { Int32($0) }))
        default:
            throw ModelFileError.invalidHeader("unsupported tokenizer model \"\(model)\" (supported: gpt2, llama)")
        }
    }

    /// The pre-tokenizer for a llama.cpp `tokenizer.ggml.pre` name. SmolLM's published tokenizer.json
    /// isolates each digit and then applies GPT-2's split; Qwen 2's splits as Llama 3's does, with one
    /// digit per piece.
    static func byteLevelPreTokenizer(named pre: String) -> PreTokenizer {
        switch pre {
        case "smollm", "starcoder", "refact": PreTokenizer(steps: [.digits(individual: true), .gpt2Split])
        case "qwen2": PreTokenizer(steps: [.llama3Split(maxDigits: 1)])
        case "llama-bpe", "llama3": PreTokenizer(steps: [.llama3Split(maxDigits: 3)])
        default: PreTokenizer(steps: [.gpt2Split])
        }
    }

    /// Whether the tokenizer.json of a `tokenizer.ggml.pre` family normalizes text to NFC (Qwen 2's does).
    static func byteLevelNormalizesToNFC(pre: String) -> Bool { pre == "qwen2" }
}
