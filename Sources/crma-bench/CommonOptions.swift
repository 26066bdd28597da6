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

    /// Sets the BLAS threads and loads the model.
    func load() throws -> LanguageModel {
        BLAS.setThreads(threads)
        return try LanguageModel.load(path: model)
    }
}
