import ArgumentParser
import CRMAAdapters
import CRMAContinual
import CRMAModel

/// A learned domain's adapters from an adapter file, for commands that run under them.
struct AdapterOptions: ParsableArguments {
    @Option(help: "An adapter file (a crmad version's blob or a benchmark's --out/states file).")
    var adapters: String?

    @Option(help: "With --adapters: the domain whose adapters answer.")
    var domain = ""

    @Option(help: "With --adapters: the strategy they were learned with (which LoRAs score the domain).")
    var strategy = "crma"

    /// The domain's adapters, nil without --adapters.
    func load(_ lm: LanguageModel) throws -> AdapterSet? {
        guard let adapters else { return nil }
        guard let s = Strategy(rawValue: strategy) else { throw ValidationError("unknown strategy \(strategy)") }
        return try LearnedState.load(adapters, model: lm.model).adapters(scoring: domain, learnedWith: s)
    }
}
