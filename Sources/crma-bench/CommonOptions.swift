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

    @Option(help: "GEMM precision of the frozen base: auto (bf16 where the CPU has AVX512-BF16, else fp32), bf16 or fp32.")
    var precision = "auto"

    /// Sets the BLAS threads and loads the model in the chosen precision (one line on stderr says which and why).
    func load(precision override: Precision? = nil) throws -> LanguageModel {
        BLAS.setThreads(threads)
        let (p, reason) = try override.map { ($0, "\($0.rawValue): measured by this command") } ?? Precision.parse(precision)
        FileHandle.standardError.write(Data("precision \(reason)\n".utf8))
        return try LanguageModel.load(path: model, precision: p)
    }
}
