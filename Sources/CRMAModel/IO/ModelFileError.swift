/// Why a model or tokenizer file could not be loaded. Every case names the offending piece, so an
/// operator can tell a truncated download from a wrong file from an unsupported model.
public enum ModelFileError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case badMagic(found: UInt32)
    case unsupportedVersion(UInt32)
    case truncated(what: String, offset: Int)
    case invalidString(offset: Int)
    case unknownValueType(key: String, raw: UInt32)
    case implausibleCount(what: String, count: UInt64)
    case duplicateKey(String)
    case unknownTensorType(tensor: String, raw: UInt32)
    case badTensorShape(tensor: String, dims: [UInt64], reason: String)
    case tensorOutOfRange(tensor: String, offset: UInt64, byteCount: UInt64, fileSize: Int)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case duplicateTensor(String)
    case badAlignment(UInt64)
    case missingTensor(String)
    case wrongTensorShape(tensor: String, expected: [Int], found: [Int])
    case missingMetadata(String)
    case wrongMetadataType(key: String, expected: String)
    case unsupportedArchitecture(String)
    case invalidHeader(String)
    case unsupportedDType(tensor: String, dtype: String)
    case modelNotFound(path: String, hint: String)
    /// A quantized base was asked of a source that cannot hand over a tensor's stored blocks.
    case notStoredInBlocks(tensor: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .badMagic(let found):
            "not a GGUF file: magic is 0x\(String(found, radix: 16)), expected 0x46554747 (\"GGUF\")"
        case .unsupportedVersion(let v): "unsupported GGUF version \(v) (supported: 2, 3)"
        case .truncated(let what, let offset): "file is truncated: \(what) at byte \(offset) runs past the end"
        case .invalidString(let offset): "invalid UTF-8 string at byte \(offset)"
        case .unknownValueType(let key, let raw): "metadata key \"\(key)\" has unknown value type \(raw)"
        case .implausibleCount(let what, let count): "implausible \(what) (\(count)); the file is corrupt"
        case .duplicateKey(let key): "metadata key \"\(key)\" appears twice"
        case .unknownTensorType(let t, let raw): "tensor \"\(t)\" has unknown or unsupported type \(raw)"
        case .badTensorShape(let t, let dims, let reason): "tensor \"\(t)\" has a bad shape \(dims): \(reason)"
        case .tensorOutOfRange(let t, let offset, let n, let size):
            "tensor \"\(t)\" (\(n) bytes at data offset \(offset)) lies outside the file (\(size) bytes)"
        case .misalignedTensor(let t, let offset, let a): "tensor \"\(t)\" offset \(offset) is not \(a)-byte aligned"
        case .duplicateTensor(let t): "tensor \"\(t)\" appears twice"
        case .badAlignment(let a): "general.alignment \(a) is not a power of two"
        case .missingTensor(let t): "the model has no tensor \"\(t)\""
        case .wrongTensorShape(let t, let e, let f): "tensor \"\(t)\" has shape \(f), expected \(e)"
        case .missingMetadata(let k): "the model has no metadata key \"\(k)\""
        case .wrongMetadataType(let k, let e): "metadata key \"\(k)\" is not a \(e)"
        case .unsupportedArchitecture(let a): "unsupported architecture \"\(a)\" (supported: llama, mistral, qwen2, qwen3, gemma2, gemma3)"
        case .invalidHeader(let reason): "invalid header: \(reason)"
        case .unsupportedDType(let t, let d): "tensor \"\(t)\" has unsupported dtype \(d) (supported: F32, F16, BF16)"
        case .modelNotFound(let path, let hint): "model not found at \(path): \(hint)"
        case .notStoredInBlocks(let t):
            "tensor \"\(t)\" cannot be kept in its stored encoding (a quantized base needs a GGUF file or safetensors in F32/F16/BF16); use base \"fp32\""
        }
    }
}
