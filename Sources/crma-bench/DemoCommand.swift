import ArgumentParser
import CRMAModel
import CRMANumerics
import Foundation

/// A first look at the runtime: load the model, score a paragraph, and chat.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Load a model, score a paragraph and answer a question (what `make run` shows for now).")

    @OptionGroup var common: CommonOptions

    @Option(help: "The question to ask.")
    var prompt = "What is the capital of France?"

    @Option(help: "Maximum tokens to generate.")
    var maxTokens = 96

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0

    func run() throws {
        var t0 = Measure.now()
        let lm = try common.load()
        let c = lm.model.config
        print(
            String(
                format: "loaded %@ in %.1f s: %d layers, hidden %d, %d/%d heads, vocab %d, %.0fM parameters (fp32)",
                common.model, Measure.now() - t0, c.layers, c.hiddenSize, c.heads, c.kvHeads, c.vocabSize,
                Double(c.matmulWeights + c.layers * 2 * c.hiddenSize) / 1e6))
        t0 = Measure.now()
        let score = Scorer(lm).scoreDocument(BenchText.paragraph, context: 512)
        print(
            String(
                format: "scored %d tokens in %.2f s: perplexity %.2f, %.3f bits per byte",
                score.tokens, Measure.now() - t0, score.perplexity, score.bitsPerByte))
        print("\nuser: \(prompt)\nassistant: ", terminator: "")
        let generator = Generator(lm)
        let (ids, stops) = generator.chatPrompt([ChatMessage(role: "user", content: prompt)])
        var printed = ""
        var generated: [Int32] = []
        t0 = Measure.now()
        let (out, _) = generator.generate(
            prompt: ids, maxTokens: maxTokens, sampling: SamplingParameters(temperature: temperature, seed: 1),
            stopTokens: stops
        ) { id in
            generated.append(id)
            let text = lm.tokenizer.decode(generated, skipSpecial: true)
            if text.hasPrefix(printed), !text.hasSuffix("\u{FFFD}") {
                print(text.dropFirst(printed.count), terminator: "")
                fflush(nil)
                printed = text
            }
            return .more
        }
        let dt = Measure.now() - t0
        print(
            String(
                format: "\n\n(%d tokens in %.2f s, %.1f tokens/s including the prompt)", out.count, dt,
                Double(out.count) / dt))
    }
}
