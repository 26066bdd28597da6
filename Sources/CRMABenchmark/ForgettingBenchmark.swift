import CRMAAdapters
import CRMAContinual
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
        /// The general benchmarks: what the gate judges every update on (crmad's own settings type and
        /// defaults), and what is reported for the substrate after the last update.
        public var general = GeneralGateSettings()
        /// Also run each strategy gated: rolled-back updates dropped, as crmad does (`<strategy>+gate`).
        public var gated = false
        /// Run the ungated runs (false with `gated`: only the gated ones, to finish a run whose ungated
        /// half is saved; a gated run then rolling nothing back is the ungated run, trained again).
        public var ungated = true
        /// Answer items scored per task domain (exact-match accuracy; 0 turns it off).
        public var answerItems = 100
        /// Where each run's progress is saved after every update, so a stopped run resumes at its next
        /// update (nil: not saved). `checkpointKey` names the settings: progress saved under another key is
        /// never resumed.
        public var checkpointDirectory: String?
        public var checkpointKey = ""
        /// Where each ungated run's final state is saved (`<strategy>-<seed>.safetensors`, ``LearnedState``):
        /// the adapters `crma-bench route` and `export` experiments start from (nil: not saved).
        public var statesDirectory: String?
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

    /// Each domain's answer items (task domains: `dir/<domain>/holdout.jsonl` lines with an "answer");
    /// empty for domains without answers (natural text).
    public func loadAnswers(_ dir: String, names: [String]) throws -> [[AnswerItem]] {
        try names.map {
            try AnswerAccuracy.load(
                file: (dir as NSString).appendingPathComponent("\($0)/holdout.jsonl"), tokenizer: lm.tokenizer,
                limit: settings.answerItems)
        }
    }

    /// Reads `dir/general.jsonl` and the multiple-choice tasks of ``GeneralGateSettings/tasks`` when
    /// present, in the sizes of `settings.general`.
    public func loadGeneral(_ dir: String) throws -> GeneralSuite {
        try settings.general.loadSuite(dir)
    }

    /// What the gate judges on the general benchmarks: the whole suite (bits per byte, multiple-choice
    /// accuracy, KL on the probes) against the base model's `base` scores, with crmad's limits — the check
    /// crmad builds (``GeneralCheck/init(gating:lm:context:limits:base:)``); nil without a suite.
    func gateCheck(_ general: GeneralSuite, base: [String: Double]) -> GeneralCheck? {
        general.isEmpty
            ? nil : GeneralCheck(gating: general, lm: lm, context: settings.seqLen, limits: settings.general.limits, base: base)
    }

    func generalScores(_ hooks: (any LlamaAdapterHooks)?, _ g: GeneralSuite) -> [String: Double] {
        g.scores(model: lm.model, tokenizer: lm.tokenizer, context: settings.seqLen, hooks: hooks)
    }

    /// Runs every strategy and seed (and, with `settings.gated`, each strategy again as crmad would:
    /// rolled-back updates dropped). `log` receives one line per finished domain; `onRun` receives the
    /// results so far after every finished strategy and seed, so a long run can be saved as it goes.
    /// `finished`: runs a stopped benchmark saved (its results.json, same settings), kept instead of run
    /// again; a run stopped mid-way resumes from `settings.checkpointDirectory`.
    public func run(
        domains: [DomainData], general: GeneralSuite, answers: [[AnswerItem]] = [], finished: [StrategyResult] = [],
        log: (String) -> Void = { _ in },
        onRun: (_ results: [StrategyResult], _ base: [String: Double]) throws -> Void = { _, _ in }
    ) throws -> (
        results: [StrategyResult], base: [String: Double]
    ) {
        log("scoring the base model: general benchmarks and every domain's holdout")
        let base = generalScores(nil, general)
        let baseLosses = ContinualRun.baseLosses(model: lm.model, domains: domains)
        let answers = answers.isEmpty ? Array(repeating: [], count: domains.count) : answers
        let baseCorrect = answers.map { AnswerAccuracy.correct($0, model: lm.model, hooks: nil) }
        let scoring = Scoring(answers: answers, baseCorrect: baseCorrect)
        let gateCheck = gateCheck(general, base: base)
        let checkpoints = settings.checkpointDirectory.map { RunCheckpoints(directory: $0, key: settings.checkpointKey) }
        var results: [StrategyResult] = []
        for seed in settings.seeds {
            for strategy in settings.strategies {
                var config = settings.config
                config.strategy = strategy
                config.seed = seed
                func done(_ name: String) -> StrategyResult? {
                    finished.first { $0.strategy == name && $0.seed == seed }
                }
                func saver(_ kind: RunCheckpoints.Kind) -> ((SavedRun, SavedRun?) throws -> Void)? {
                    checkpoints.map { c in
                        { run, fork in
                            try c.save(run, kind, strategy, seed: seed)
                            if let fork { try c.save(fork, .fork, strategy, seed: seed) }
                        }
                    }
                }
                func resumed(_ kind: RunCheckpoints.Kind) throws -> SavedRun? {
                    guard let c = checkpoints, let saved = try c.load(kind, strategy, seed: seed, model: lm.model) else {
                        return nil
                    }
                    if kind != .fork {
                        log("\(strategy.rawValue)\(kind == .gated ? "+gate" : "") seed \(seed): resuming after update \(saved.progress.next) of \(domains.count) (saved in \(c.directory))")
                    }
                    return saved
                }
                let name = strategy.rawValue
                var ungated: StrategyResult?
                var fork: SavedRun?
                if let kept = done(name) {
                    ungated = kept
                    results.append(kept)
                    fork = try resumed(.fork)
                } else if settings.ungated {
                    let run = try runOne(
                        domains, config: config, gated: false, baseLosses: baseLosses, gate: gateCheck,
                        general: general, scoring: scoring, resume: try resumed(.ungated), fork: try resumed(.fork),
                        save: saver(.ungated), log: log)
                    results.append(run.result)
                    try onRun(results, base)
                    (ungated, fork) = (run.result, run.fork)
                }
                if settings.gated {
                    if let kept = done(name + "+gate") {
                        results.append(kept)
                    } else if var same = ungated, same.decisions?.allSatisfy({ $0.outcome != "rolled_back" }) ?? false {
                        // Nothing was rolled back: the gated run is the same run.
                        same.strategy += "+gate"
                        same.gated = true
                        results.append(same)
                    } else {
                        // Up to its first rollback the gated run is the ungated one: it starts from there.
                        results.append(
                            try runOne(
                                domains, config: config, gated: true, baseLosses: baseLosses, gate: gateCheck,
                                general: general, scoring: scoring, resume: try resumed(.gated) ?? fork,
                                save: saver(.gated), log: log
                            ).result)
                    }
                    try onRun(results, base)
                }
                checkpoints?.remove(strategy, seed: seed)
            }
        }
        return (results, base)
    }

    /// The task domains' answer items and the base model's answers to them.
    struct Scoring {
        var answers: [[AnswerItem]]
        var baseCorrect: [[Bool]]
    }

    /// One strategy and seed, ungated or gated. `resume`: where a stopped run (or, gated, the ungated run's
    /// fork) left off; `fork`: a stopped ungated run's fork. `save` receives the run's progress after every
    /// update (and the fork, once found). Returns the result and, ungated, the fork for the gated run.
    func runOne(
        _ domains: [DomainData], config: ContinualConfig, gated: Bool, baseLosses: [Double], gate: GeneralCheck?,
        general: GeneralSuite, scoring: Scoring, resume: SavedRun? = nil, fork startFork: SavedRun? = nil,
        save: ((SavedRun, _ fork: SavedRun?) throws -> Void)? = nil, log: (String) -> Void
    ) throws -> (result: StrategyResult, fork: SavedRun?) {
        let name = config.strategy.rawValue + (gated ? "+gate" : "")
        let start = Date()
        let earlierSeconds = resume?.seconds ?? 0
        func seconds() -> Double { earlierSeconds + Date().timeIntervalSince(start) }
        /// The answers to every domain so far under `state`, after update k.
        func answers(_ k: Int, _ state: LearnedState) -> [[Bool]] {
            (0...k).map { j in
                AnswerAccuracy.correct(
                    scoring.answers[j], model: lm.model,
                    hooks: state.adapters(scoring: domains[j].name, learnedWith: config.strategy))
            }
        }
        // correct[k][j]: each answer item of domain j right after update k.
        var correct: [[[Bool]]] = resume?.correct ?? []
        if let resume, correct.count < resume.progress.next {
            // A gated run from the ungated run's fork: the rolled-back update's row is this run's own.
            let k = resume.progress.next - 1
            correct.append(answers(k, resume.progress.state))
            log("\(name) seed \(config.seed): starts after the ungated run's first rollback (update \(k + 1), \(domains[k].name))")
        }
        var fork = startFork
        let run = try ContinualRun(model: lm.model, config: config, gated: gated).run(
            domains, baseLosses: baseLosses, general: gate, from: resume?.progress, fork: startFork?.progress,
            onDomain: { k, losses in
                log(
                    String(
                        format: "%@ seed %llu: learned %@ (%d/%d), holdout %.4f, %.0f s", name, config.seed,
                        domains[k].name, k + 1, domains.count, losses.last!, seconds()))
            },
            onState: { k, state in
                correct.append(answers(k, state))
            },
            onProgress: { progress, gatedFork in
                var newFork: SavedRun?
                if fork == nil, let gatedFork {
                    // The answers before the rolled-back update are the gated run's too.
                    newFork = SavedRun(
                        progress: gatedFork, correct: Array(correct.prefix(gatedFork.next - 1)), seconds: 0)
                    fork = newFork
                }
                try save?(SavedRun(progress: progress, correct: correct, seconds: seconds()), newFork)
            })
        let decisions = run.decisions
        for (k, d) in decisions.enumerated() where d.outcome != "accepted" {
            log("  gate on update \(k + 1) (\(d.domain)): \(d.outcome) — \(d.reasons.prefix(2).map(ForgettingReport.describe).joined(separator: "; "))")
        }
        let (matrix, perRow) = (run.matrix, run.perRow)
        var intervals: [[Interval?]] = []
        for k in 0..<perRow.count {
            intervals.append(
                (0...k).map { (j: Int) -> Interval? in
                    let (reference, after) = (perRow[j][j], perRow[k][j])
                    guard j < k, !reference.isEmpty, reference.count == after.count else { return nil }
                    return Bootstrap.driftInterval(reference: reference, after: after, samples: 500, seed: config.seed)
                })
        }
        let hasAnswers = scoring.answers.contains { !$0.isEmpty }
        var result = StrategyResult(
            strategy: name, seed: config.seed, matrix: matrix, baseLosses: baseLosses, driftIntervals: intervals,
            seconds: seconds(), general: generalScores(run.substrate, general),
            teacherCosts: run.teacherCosts.isEmpty ? nil : run.teacherCosts, decisions: decisions, gated: gated)
        if hasAnswers {
            result.accuracy = correct.map { row in row.map { $0.isEmpty ? nil : AnswerAccuracy.rate($0) } }
            result.baseAccuracy = scoring.baseCorrect.map { $0.isEmpty ? nil : AnswerAccuracy.rate($0) }
            result.accuracyIntervals = (0..<correct.count).map { k in
                (0...k).map { j -> Interval? in
                    guard j < k, !correct[j][j].isEmpty else { return nil }
                    return Bootstrap.differenceInterval(
                        reference: correct[j][j].map { $0 ? 1 : 0 }, after: correct[k][j].map { $0 ? 1 : 0 },
                        samples: 500, seed: config.seed)
                }
            }
        }
        if config.strategy.usesCRMA { result.substrateAblation = ablation(run.state, domains, config, scoring) }
        if !gated, let dir = settings.statesDirectory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try run.state.save(to: "\(dir)/\(config.strategy.rawValue)-\(config.seed).safetensors")
        }
        return (result, fork)
    }

    /// The paper's inference-time ablation: after the last update, every domain with its LoRA and the
    /// substrate, and with its LoRA alone.
    func ablation(_ state: LearnedState, _ domains: [DomainData], _ config: ContinualConfig, _ scoring: Scoring)
        -> [String: SubstrateAblation]
    {
        var out: [String: SubstrateAblation] = [:]
        for (j, d) in domains.enumerated() {
            let with = state.adapters(scoring: d.name, learnedWith: config.strategy)
            let without = AdapterSet(loras: with.loras, crma: nil)
            func accuracy(_ a: AdapterSet) -> Double? {
                scoring.answers[j].isEmpty
                    ? nil : AnswerAccuracy.rate(AnswerAccuracy.correct(scoring.answers[j], model: lm.model, hooks: a))
            }
            out[d.name] = SubstrateAblation(
                lossWith: HoldoutScorer.score(model: lm.model, adapters: with, rows: d.holdout).mean,
                lossWithout: HoldoutScorer.score(model: lm.model, adapters: without, rows: d.holdout).mean,
                accuracyWith: accuracy(with), accuracyWithout: accuracy(without))
        }
        return out
    }

    /// The contents of results.json.
    public struct Output: Codable {
        public var command: String
        public var settings: [String: String]
        public var baseGeneral: [String: Double]
        public var results: [StrategyResult]

        /// The results.json at `path`.
        public static func read(_ path: String) throws -> Output {
            try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    /// Re-renders report.md and drift.svg from a results.json (after a report format change).
    public static func rerender(resultsJSON path: String, to dir: String) throws {
        let out = try Output.read(path)
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
