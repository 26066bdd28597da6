import CRMANumerics

/// How the frozen base model's GEMM weights (projections, output head, embedding) are held, and so the
/// arithmetic of its GEMMs (forward and input gradients): the `base` setting (named `precision` before
/// the quantized base existed, hence the type's name). Adapters, their gradients,
/// norms, attention, softmax, the loss and the optimizer are fp32 either way.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// OpenBLAS sgemm on the fp32 weights.
    case fp32
    /// Weights held in bf16, activations rounded to bf16, products accumulated in fp32 (oneDNN);
    /// needs AVX512-BF16.
    case bf16
    /// Weights kept in the file's own blocks (GGUF Q4_K, Q6_K, …; ``QuantizedMatrix``), dequantized panel
    /// by panel into fp32 for OpenBLAS sgemm: the fp32 model's values at a fraction of its memory.
    case quantized

    /// What "auto" picks: the quantized base, with the reason in words (for one log line). It holds the
    /// least memory (Qwen2.5-Coder-1.5B: 1.37 GB scoring, 2.61 GB training against 5.16 and 7.42 in
    /// bf16), scores and trains faster than bf16 on the machines measured (1.1–1.3 ×; fp32 is faster still
    /// where memory allows), computes the fp32 model's values, and needs neither AVX512-BF16 nor generated
    /// code (docs/benchmarks.md#the-frozen-base).
    public static func automatic() -> (precision: Precision, reason: String) {
        (.quantized, "quantized: the default (the file's own blocks, dequantized into fp32 panels: the least memory)")
    }

    /// Parses a setting: "fp32", "bf16", "quantized" or "auto". Throws on anything else, and on "bf16"
    /// where the CPU cannot run it.
    public static func parse(_ setting: String) throws -> (precision: Precision, reason: String) {
        switch setting {
        case "auto": return automatic()
        case "fp32": return (.fp32, "fp32: as configured")
        case "quantized": return (.quantized, "quantized: as configured (the file's blocks, dequantized into fp32 panels)")
        case "bf16":
            guard BF16.cpuSupported else { throw PrecisionError.bf16Unsupported }
            guard BF16.jitAllowed else { throw PrecisionError.jitDenied }
            return (.bf16, "bf16: as configured (oneDNN \(BF16.instructionSet))")
        default: throw PrecisionError.unknown(setting)
        }
    }
}

public enum PrecisionError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case bf16Unsupported
    case jitDenied

    public var description: String {
        switch self {
        case .unknown(let s): "base must be \"auto\", \"quantized\", \"bf16\" or \"fp32\", not \"\(s)\""
        case .bf16Unsupported:
            "base \"bf16\" needs a CPU with AVX512-BF16 (see /proc/cpuinfo); use \"auto\" (quantized) or \"fp32\""
        case .jitDenied:
            "bf16 needs executable memory for oneDNN's generated kernels, and this process may not create it (a W^X policy such as systemd's MemoryDenyWriteExecute=yes); allow it or use base \"auto\" (quantized, which generates no code) or \"fp32\""
        }
    }
}
