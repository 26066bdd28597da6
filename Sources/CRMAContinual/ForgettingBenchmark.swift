import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMATraining
import Foundation

/// The forgetting experiment: every strategy learns the domains in order, for every seed; the loss
/// matrix, bootstrap intervals and the substrate's general benchmarks are recorded, and results.json,
/// report.md and drift.svg are written.
public struct ForgettingBenchmark {
    public struct Settings: Sendable {
        public var strategies: [Strategy] = [.naive, .frozen, .crma, .crmaIdentity]
        public var seeds: [UInt64] = [0, 42, 1234]
        /// Training documents used per domain (lowest content hashes first, so runs are comparable).
        public var trainDocuments = 300
        /// Holdout rows scored per domain.
        public var holdoutRows = 24
        public var seqLen = 256
        public var config = ContinualConfig()
        /// General benchmark sizes (0 skips a benchmark).
        public var generalDocuments = 8
        public var multipleChoiceItems = 100
        public var probeDocuments = 4
        public init() {}
    }

    public let lm: LanguageModel
    public let settings: Settings

    public init(lm: LanguageModel, settings: Settings) {
        self.lm = lm
        self.settings = settings
    }

    /// Reads `dir/<domain>/{train,holdout}.jsonl` into packed rows.
    public func loadDomains(_ dir: String, names: [String]) throws -> [DomainData] {
        let et = ExampleTokenizer(tokenizer: lm.tokenizer)
        let packer = SequencePacker(seqLen: settings.seqLen, padToken: lm.tokenizer.eosID ?? 0)
        return try names.map { name in
            func read(_ file: String) throws -> [TrainingExample] {
                try DocumentReader.read(file: (dir as NSString).appendingPathComponent("\(name)/\(file)")).map(\.0)
            }
            let train = try read("train.jsonl").sorted {
                HoldoutSplit.position($0.canonicalText) < HoldoutSplit.position($1.canonicalText)
            }
            let hold = try read("holdout.jsonl")
            return DomainData(
                name: name, train: packer.pack(train.prefix(settings.trainDocuments).map(et.tokenize)),
                holdout: Array(packer.pack(hold.map(et.tokenize)).prefix(settings.holdoutRows)))
        }
    }

    public struct GeneralData: Sendable {
        public var documents: [String] = []
        public var multipleChoice: [String: [MultipleChoiceItem]] = [:]
        public var probes: [String] = []
        public init() {}
    }

    /// Reads `dir/general.jsonl`, `dir/arc_easy.jsonl`, `dir/hellaswag.jsonl` when present.
    public func loadGeneral(_ dir: String) throws -> GeneralData {
        var g = GeneralData()
        let general = (dir as NSString).appendingPathComponent("general.jsonl")
        if FileManager.default.fileExists(atPath: general) {
            let texts = try DocumentReader.read(file: general).compactMap {
                if case .text(let s) = $0.0 { s } else { nil }
            }
            g.documents = Array(texts.prefix(settings.generalDocuments))
            g.probes = Array(texts.dropFirst(settings.generalDocuments).prefix(settings.probeDocuments))
        }
        for task in ["arc_easy", "hellaswag"] {
            let path = (dir as NSString).appendingPathComponent("\(task).jsonl")
            guard settings.multipleChoiceItems > 0, let data = FileManager.default.contents(atPath: path) else {
                continue
            }
            let items = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
                try JSONDecoder().decode(MultipleChoiceItem.self, from: Data($0.utf8))
            }
            g.multipleChoice[task] = Array(items.prefix(settings.multipleChoiceItems))
        }
        return g
    }

    func generalScores(_ hooks: (any LlamaAdapterHooks)?, _ g: GeneralData) -> [String: Double] {
        let bench = GeneralBenchmarks(model: lm.model, tokenizer: lm.tokenizer, context: settings.seqLen)
        var out: [String: Double] = [:]
        if !g.documents.isEmpty { out["general_bits_per_byte"] = bench.bitsPerByte(g.documents, hooks: hooks) }
        for (task, items) in g.multipleChoice.sorted(by: { $0.key < $1.key }) {
            let (acc, norm) = bench.multipleChoice(items, hooks: hooks)
            out["\(task)_acc"] = acc
            out["\(task)_acc_norm"] = norm
        }
        if let hooks, !g.probes.isEmpty {
            let (kl, top1) = bench.distributionShift(probes: g.probes, hooks: hooks)
            out["probe_kl_base_current"] = kl
            out["probe_top1_agreement"] = top1
        }
        return out
    }

    /// Runs every strategy and seed. `log` receives one line per finished domain; `onRun` receives the
    /// results so far after every finished strategy and seed, so a long run can be saved as it goes.
    public func run(
        domains: [DomainData], general: GeneralData, log: (String) -> Void = { _ in },
        onRun: (_ results: [StrategyResult], _ base: [String: Double]) throws -> Void = { _, _ in }
    ) throws -> (
        results: [StrategyResult], base: [String: Double]
    ) {
        log("scoring the base model: general benchmarks and every domain's holdout")
        let base = generalScores(nil, general)
        let baseLosses = ContinualRun.baseLosses(model: lm.model, domains: domains)
        var results: [StrategyResult] = []
        for seed in settings.seeds {
            for strategy in settings.strategies {
                var config = settings.config
                config.strategy = strategy
                config.seed = seed
                let start = Date()
                let run = try ContinualRun(model: lm.model, config: config).run(
                    domains, baseLosses: baseLosses,
                    onDomain: { k, losses in
                        log(
                            String(
                                format: "%@ seed %llu: learned %@ (%d/%d), holdout %.4f, %.0f s", strategy.rawValue,
                                seed,
                                domains[k].name, k + 1, domains.count, losses.last!, Date().timeIntervalSince(start)))
                    })
                let (matrix, perRow) = (run.matrix, run.perRow)
                var intervals: [[Interval?]] = []
                for k in 0..<perRow.count {
                    intervals.append(
                        (0...k).map { j in
                            j < k
                                ? Bootstrap.driftInterval(
                                    reference: perRow[j][j], after: perRow[k][j], samples: 500, seed: seed) : nil
                        })
                }
                let general = generalScores(run.substrate, general)
                results.append(
                    StrategyResult(
                        strategy: strategy.rawValue, seed: seed, matrix: matrix, baseLosses: baseLosses,
                        driftIntervals: intervals,
                        seconds: Date().timeIntervalSince(start), general: general,
                        teacherCosts: run.teacherCosts.isEmpty ? nil : run.teacherCosts))
                try onRun(results, base)
            }
        }
        return (results, base)
    }

    /// The contents of results.json.
    public struct Output: Codable {
        public var command: String
        public var settings: [String: String]
        public var baseGeneral: [String: Double]
        public var results: [StrategyResult]
    }

    /// Re-renders report.md and drift.svg from a results.json (after a report format change).
    public static func rerender(resultsJSON path: String, to dir: String) throws {
        let out = try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        try write(out.results, base: out.baseGeneral, command: out.command, settings: out.settings, to: dir)
    }

    /// Writes results.json, report.md and drift.svg into `dir`.
    public static func write(
        _ results: [StrategyResult], base: [String: Double], command: String, settings: [String: String], to dir: String
    ) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(
            enc.encode(Output(command: command, settings: settings, baseGeneral: base, results: results)),
            to: dir + "/results.json")
        let md = ForgettingReport.markdown(results, base: base, command: command)
        try AtomicFile.write(Data(md.utf8), to: dir + "/report.md")
        try AtomicFile.write(Data(ForgettingReport.svg(results).utf8), to: dir + "/drift.svg")
    }
}
