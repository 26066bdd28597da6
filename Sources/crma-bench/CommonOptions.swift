import ArgumentParser
import CRMAModel
import CRMANumerics
import Foundation

/// Options every `crma-bench` subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Model: a .gguf file or a Hugging Face directory.")
    var model = LanguageModel.defaultPath

    @Option(help: "BLAS threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Print JSON.")
    var json = false

    @Option(
        name: [.customLong("base"), .customLong("precision")],
        help: ArgumentHelp(
            "How the frozen base is held: auto, quantized (the file's own blocks, dequantized into fp32 panels for each GEMM: the least memory), bf16 (oneDNN; needs AVX512-BF16) or fp32.",
            discussion: "--precision is the older name of this option."))
    var base = "auto"

    /// Sets the BLAS threads and loads the model with the chosen base (one line on stderr says which and why).
    func load(base override: Precision? = nil) throws -> LanguageModel {
        BLAS.setThreads(threads)
        let (p, reason) = try override.map { ($0, "\($0.rawValue): measured by this command") } ?? Precision.parse(base)
        FileHandle.standardError.write(Data("base \(reason)\n".utf8))
        return try LanguageModel.load(path: model, precision: p)
    }
}
