import ArgumentParser

@main
struct CRMABench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crma-bench",
        abstract: "Benchmarks for the crma runtime.")
}
