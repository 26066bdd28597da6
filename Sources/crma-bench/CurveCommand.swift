import ArgumentParser
import CRMAAdapters
import CRMABenchmark
import CRMAContinual
import CRMAModel
import CRMATraining
import Foundation

/// `crma-bench curve`: how one domain's holdout loss and answer accuracy move with the epochs trained,
/// the evidence behind the forgetting benchmark's and crmad's default number of epochs.
struct CurveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curve",
        abstract: "Learning curve of one domain: holdout loss and answer accuracy per epoch (curve.json, curve.md).",
        discussion: """
            One strategy learns one task domain from the base model through the update pipeline, with the \
            forgetting benchmark's data, batch and learning rate; the holdout loss and the greedy answer's \
            exact-match accuracy are measured every --every epochs. One run per --epochs value: each run's \
            cosine schedule spans its own length, so "2 epochs" is measured as a 2-epoch run ends, not as a \
            point on a longer run. Results are saved after every run.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Directory of <domain>/{train,holdout}.jsonl.")
    var data = "data/tasks"

    @Option(help: "The domain to learn.")
    var domain = "medical"

    @Option(help: "Strategy: naive, frozen, crma, crma-identity (one new domain: the others train like naive).")
    var strategy = "naive"

    @Option(help: "Planned lengths in epochs, comma-separated: one run each.")
    var epochs = "1,2,4"

    @Option(help: "Measure every this many epochs.")
    var every = 0.5

    @Option(help: "Learning rate of LoRA and CRMA's projections.")
    var learningRate: Float = 5e-4

    @Option(help: "Sequences of 256 tokens per optimizer step.")
    var batchRows = 4

    @Option(help: "Training documents (examples).")
    var documents = 500

    @Option(help: "Holdout rows scored.")
    var holdoutRows = 16

    @Option(help: "Holdout items whose greedy answer is scored (0: none).")
    var answerItems = 100

    @Option(help: "Seed of the LoRA's initialisation and the batch order.")
    var seed: UInt64 = 0

    @Option(help: "Output directory.")
    var out = "var/curve"

    func run() throws {
        guard let st = Strategy(rawValue: strategy) else { throw ValidationError("unknown strategy \(strategy)") }
        let lengths = epochs.split(separator: ",").compactMap { Double($0) }
        guard !lengths.isEmpty, lengths.allSatisfy({ $0 > 0 }), every > 0 else {
            throw ValidationError("--epochs takes positive numbers (e.g. 1,2,4) and --every a positive number")
        }
        guard FileManager.default.fileExists(atPath: "\(data)/\(domain)/train.jsonl") else {
            throw ValidationError("no \(data)/\(domain)/train.jsonl: run `make corpora` first, or pass --data/--domain")
        }
        let lm = try common.load()
        var s = ForgettingBenchmark.Settings()
        s.trainDocuments = documents
        s.holdoutRows = holdoutRows
        s.answerItems = answerItems
        s.config.strategy = st
        s.config.batchRows = batchRows
        s.config.optimizer.learningRates[.proj] = learningRate
        let bench = ForgettingBenchmark(lm: lm, settings: s)
        let domainData = try bench.loadDomains(data, names: [domain])[0]
        let answers = try bench.loadAnswers(data, names: [domain])[0]
        let curve = LearningCurve(model: lm.model, config: s.config)
        let command = CommandLine.arguments.joined(separator: " ")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var runs: [LearningCurve.Run] = []
        for e in lengths {
            runs.append(
                try curve.run(
                    domainData, answers: answers, epochs: e, every: every, seed: seed, base: runs.first?.points.first,
                    log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let record = CurveRecord(
                command: command, domain: domain, strategy: strategy, precision: lm.model.precision.rawValue,
                learningRate: learningRate, batchRows: batchRows,
                trainRows: domainData.train.count, holdoutRows: domainData.holdout.count, runs: runs)
            try encoder.encode(record).write(to: URL(fileURLWithPath: "\(out)/curve.json"))
            try LearningCurve.markdown(runs, domain: domain, strategy: strategy, command: command)
                .write(toFile: "\(out)/curve.md", atomically: true, encoding: .utf8)
        }
        print("wrote \(out)/curve.json and curve.md")
    }
}

/// curve.json.
struct CurveRecord: Codable {
    var command: String
    var domain: String
    var strategy: String
    var precision: String
    var learningRate: Float
    var batchRows: Int
    var trainRows: Int
    var holdoutRows: Int
    var runs: [LearningCurve.Run]
}
