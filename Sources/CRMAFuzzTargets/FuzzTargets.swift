import CRMADaemon
import CRMAModel
import CRMATraining
import Foundation

/// The parsers that read untrusted bytes, each used the way crma uses it; shared by the seeded mutation
/// fuzzer (`crma-fuzz`) and the libFuzzer harness (`crma-libfuzz`).
public enum FuzzTargets {
    /// Target name → extension of the file the input is written to (the readers open paths).
    public static let fileExtensions = [
        "gguf": "gguf", "safetensors": "safetensors", "tokenizer-json": "json", "jsonl": "jsonl", "toml": "toml",
    ]

    /// Parses and uses the input the way crma does; true when it was accepted.
    public static func parse(_ target: String, path: String, bytes: [UInt8]) -> Bool {
        do {
            switch target {
            case "gguf":
                let f = try GGUFFile(path: path)
                for t in f.tensors.prefix(4) { _ = f.floats(t) }
                _ = try? Tokenizer(gguf: f)
            case "safetensors":
                let f = try SafetensorsFile(path: path)
                for name in f.tensors.keys.sorted().prefix(4) { _ = try f.floats(name) }
            case "tokenizer-json":
                let t = try Tokenizer(jsonFile: path)
                let ids = t.encode("Hello, world! 123 <|im_start|>")
                _ = t.decode(ids, skipSpecial: false)
            case "jsonl":
                _ = try DocumentReader.parse(Data(bytes), file: "fuzz.jsonl")
                _ = try DocumentReader.parse(Data(bytes), file: "fuzz.md")
            case "toml":
                let text = String(decoding: bytes, as: UTF8.self)
                _ = try ConfigLoader.decode(try ConfigValue.parse(toml: text, file: "fuzz.toml"), file: "fuzz.toml")
            default: return false
            }
            return true
        } catch {
            return false
        }
    }

}
