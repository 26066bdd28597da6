import Foundation

extension Tokenizer {
    /// Loads a Hugging Face `tokenizer.json` with a BPE model: byte-level (ByteLevel pre-tokenizer,
    /// optionally after Digits) or SentencePiece-style (Metaspace / Prepend+Replace normalizer, byte
    /// fallback).
    public init(jsonFile path: String, chatTemplate: String? = nil) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError.cannotOpen(path: path, reason: "no such file or not readable")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelFileError.invalidHeader("\(path): not a JSON object")
        }
        guard let model = root["model"] as? [String: Any], (model["type"] as? String ?? "BPE") == "BPE" else {
            throw ModelFileError.invalidHeader("\(path): only BPE tokenizer models are supported")
        }
        // The vocabulary is read again with its keys exactly as written (see ExactJSONKeys).
        let exact: [(String, Int)]?
        do { exact = try ExactJSONKeys.integerEntries(in: [UInt8](data), at: ["model", "vocab"]) } catch {
            throw ModelFileError.invalidHeader("\(path): malformed JSON near byte \((error as? ExactJSONKeys.Malformed)?.offset ?? 0)")
        }
        guard let vocab = exact else {
            throw ModelFileError.invalidHeader("\(path): model.vocab is missing")
        }
        var added: [(String, Int32)] = []
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            if let c = entry["content"] as? String, let id = entry["id"] as? Int {
                // Found by crma-fuzz: a negative or huge id trapped in the table below.
                guard (0..<(1 << 21)).contains(id) else {
                    throw ModelFileError.invalidHeader("\(path): added token \"\(c)\" has id \(id), outside 0..<2097152")
                }
                added.append((c, Int32(id)))
            }
        }
        let size = max(vocab.map(\.1).max() ?? -1, added.map { Int($0.1) }.max() ?? -1) + 1
        guard size > 0, size <= 1 << 21 else { throw ModelFileError.invalidHeader("\(path): vocabulary size \(size)") }
        var tokens = [String](repeating: "", count: size)
        for (t, id) in vocab where id >= 0 { tokens[id] = t }
        for (t, id) in added { tokens[Int(id)] = t }
        var merges: [(String, String)] = []
        for m in model["merges"] as? [Any] ?? [] {
            if let s = m as? String, let sp = s.firstIndex(of: " ") {
                merges.append((String(s[..<sp]), String(s[s.index(after: sp)...])))
            } else if let pair = m as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw ModelFileError.invalidHeader("\(path): malformed merge \(m)")
            }
        }
        let byteFallback = model["byte_fallback"] as? Bool ?? false
        let unk = (model["unk_token"] as? String).flatMap { u in vocab.first { $0.0.utf8.elementsEqual(u.utf8) }?.1 }
            .map(Int32.init)

        // Classify by the pre-tokenizer and normalizer.
        var steps: [PreTokenizerStep] = []
        var byteLevel = false, metaspace = false
        var unsupportedSplit: String?
        func visitPre(_ p: [String: Any]) {
            switch p["type"] as? String {
            case "Sequence": (p["pretokenizers"] as? [[String: Any]] ?? []).forEach(visitPre)
            case "Digits": steps.append(.digits(individual: p["individual_digits"] as? Bool ?? false))
            case "ByteLevel":
                byteLevel = true
                if p["use_regex"] as? Bool ?? true { steps.append(.gpt2Split) }
            case "Metaspace": metaspace = true
            case "Split":
                let regex = (p["pattern"] as? [String: Any])?["Regex"] as? String
                if let maxDigits = [1, 3].first(where: { PreTokenizer.llama3Pattern(maxDigits: $0) == regex }),
                    p["behavior"] as? String == "Isolated", p["invert"] as? Bool != true
                {
                    steps.append(.llama3Split(maxDigits: maxDigits))
                } else {
                    unsupportedSplit = regex ?? String(describing: p["pattern"] ?? "")
                }
            default: break
            }
        }
        // A "▁" prefix comes from a Prepend normalizer or a Metaspace pre-tokenizer that prepends (Llama 2);
        // Gemma only replaces spaces.
        var prependsSpace = false
        func visitPrepend(_ p: [String: Any]) {
            if p["type"] as? String == "Metaspace" {
                prependsSpace = prependsSpace || (p["prepend_scheme"] as? String).map { $0 != "never" } ?? (p["add_prefix_space"] as? Bool ?? true)
            }
            (p["pretokenizers"] as? [[String: Any]] ?? []).forEach { visitPrepend($0) }
        }
        if let pre = root["pre_tokenizer"] as? [String: Any] {
            visitPre(pre)
            visitPrepend(pre)
        }
        var nfc = false
        func visitNorm(_ n: [String: Any]) {
            if String(describing: n).contains("▁") { metaspace = true }
            if n["type"] as? String == "NFC" { nfc = true }
            if n["type"] as? String == "Prepend" { prependsSpace = true }
            (n["normalizers"] as? [[String: Any]] ?? []).forEach(visitNorm)
        }
        if let norm = root["normalizer"] as? [String: Any] { visitNorm(norm) }
        if !byteLevel, let dec = root["decoder"] as? [String: Any], dec["type"] as? String == "ByteLevel" {
            byteLevel = true
        }
        if let unsupportedSplit {
            throw ModelFileError.invalidHeader(
                "\(path): unsupported Split pre-tokenizer pattern \(unsupportedSplit.debugDescription) (supported: Llama 3's and Qwen 2's)")
        }
        guard byteLevel || metaspace else {
            throw ModelFileError.invalidHeader(
                "\(path): unsupported pre-tokenizer (expected ByteLevel or Metaspace/SentencePiece)")
        }
        let specials = (root["added_tokens"] as? [[String: Any]] ?? []).compactMap { e -> (String, Int32)? in
            guard let c = e["content"] as? String, let id = e["id"] as? Int, !c.isEmpty else { return nil }
            return (c, Int32(id))
        }
        func specialID(_ names: [String]) -> Int32? {
            for n in names { if let id = specials.first(where: { $0.0 == n })?.1 { return id } }
            return nil
        }
        // The special token a TemplateProcessing post-processor puts first is the BOS it adds (Gemma: <bos>).
        let processorBOS = ((root["post_processor"] as? [String: Any])?["single"] as? [[String: Any]])?.first
            .flatMap { ($0["SpecialToken"] as? [String: Any])?["id"] as? String }
        // Added tokens that are not special are text (Gemma's runs of newlines, spaces and tabs).
        let textTokens = (root["added_tokens"] as? [[String: Any]] ?? []).compactMap { e -> Int32? in
            guard e["special"] as? Bool == false, let id = e["id"] as? Int else { return nil }
            return Int32(id)
        }
        self.init(
            kind: metaspace && !byteLevel ? .sentencePiece : .byteLevel,
            model: BPEModel(tokens: tokens, merges: merges, byteFallback: byteFallback, unknownID: unk),
            preTokenizer: PreTokenizer(steps: metaspace && !byteLevel ? [] : steps),
            specialTokens: specials,
            bosID: specialID((processorBOS.map { [$0] } ?? []) + ["<s>", "<bos>", "<|begin_of_text|>", "<|im_start|>"]),
            eosID: specialID(["<eos>", "</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"]),
            addBOS: (metaspace && !byteLevel) || processorBOS != nil, addSpacePrefix: metaspace && !byteLevel && prependsSpace,
            chatTemplate: chatTemplate, textTokenIDs: Set(textTokens), normalizesToNFC: nfc)
    }
}
