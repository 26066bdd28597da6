import ArgumentParser

@main
struct CRMABench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crma-bench",
        abstract: "Benchmarks and demos for the crma runtime (throughput, perplexity, generation).",
        subcommands: [EvalCommand.self, PerplexityCommand.self, DemoCommand.self])
}
