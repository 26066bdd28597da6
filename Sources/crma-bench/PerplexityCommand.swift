import ArgumentParser
import CRMAModel
import CRMANumerics
import Foundation

/// Rolling-window perplexity of a text file (lm-eval `loglikelihood_rolling` semantics).
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Score a text file: tokens, mean NLL, perplexity and bits per byte.",
        discussion: """
            The document is tokenized without BOS and scored in disjoint rolling windows of --context tokens \
            (the first window starts with the BOS token); every token is predicted once. Bits per byte = \
            total NLL / ln 2 / UTF-8 bytes, comparable across tokenizers.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "UTF-8 text file to score.")
    var text: String

    @Option(help: "Window length in tokens.")
    var context = 512

    func validate() throws {
        guard context >= 2 else { throw ValidationError("--context must be at least 2") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: text) else {
            throw ValidationError("cannot read \(text)")
        }
        guard let document = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(text) is not valid UTF-8")
        }
        let lm = try common.load()
        guard context <= lm.model.config.contextLength else {
            throw ValidationError(
                "--context \(context) exceeds the model's context length \(lm.model.config.contextLength)")
        }
        let t0 = Measure.now()
        let s = Scorer(lm).scoreDocument(document, context: context)
        let seconds = Measure.now() - t0
        Output.print(
            [
                "model": common.model, "text": text, "context": context, "tokens": s.tokens, "bytes": s.bytes,
                "mean_nll": s.meanNLL, "perplexity": s.perplexity, "bits_per_byte": s.bitsPerByte,
                "seconds": seconds, "tokens_per_second": Double(s.tokens) / seconds,
            ], json: common.json)
    }
}
