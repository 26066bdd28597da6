import ArgumentParser
import CRMANumerics

@main
struct CRMABench: ParsableCommand {
    static func main() {
        BLASEnvironment.ensureShortSpin()
        Self.main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "crma-bench",
        abstract: "Benchmarks and demos for the crma runtime (throughput, perplexity, generation).",
        subcommands: [
            EvalCommand.self, TrainCommand.self, FinetuneCommand.self, ForgettingCommand.self, PerplexityCommand.self,
            DemoCommand.self, DistillCostCommand.self, SoakCommand.self, CurveCommand.self, GenerateCommand.self,
            RouteCommand.self, ItemsCommand.self,
        ])
}
