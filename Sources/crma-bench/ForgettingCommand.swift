import ArgumentParser
import CRMAAdapters
import CRMABenchmark
import CRMAContinual
import CRMAModel
import CRMANumerics
import CRMATraining
import Foundation

/// The forgetting benchmark: naive vs frozen vs crma vs crma-identity (and replay, ewc, lwf, olora) on real domains.
struct ForgettingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forgetting",
        abstract:
            "Learn domains in order with each strategy and report forgetting (results.json, report.md, drift.svg).",
        discussion: """
            Each domain directory holds train.jsonl and holdout.jsonl. The default is the published regime: the five \
            templated task domains `make corpora` prepares under data/tasks (MedMCQA, PrivacyQA, MBPP, FiQA + MMLU \
            finance, ARC), 500 examples each, trained for 2 epochs — where naive sequential LoRA does forget. \
            data/corpora holds natural text (PubMed, licenses, Python stdlib, ledger manuals), where it hardly does. \
            After every update, every earlier domain's holdout is scored with the adapters the strategy assigns to it \
            (crma.md §6), and on task domains the greedy answer's exact-match accuracy; the general benchmarks \
            (data/benchmarks) are scored on the substrate after the last update and on the base model. The gate crmad \
            runs judges every update; report.md shows its decisions, and --gated adds each strategy as crmad would \
            run it (rolled-back updates dropped). Results are saved after every strategy and seed, and each run's \
            progress after every update (--out/checkpoints; each run's final adapters go to --out/states): the same command started again keeps the finished runs \
            and resumes the others at their next update. Split a long run over processes with --seeds/--strategies \
            (one --out each) and merge with scripts/results/merge.py.
            --quick: one seed, naive / frozen / crma on medical, legal and code with 150 examples each: the same \
            direction in about 20 minutes.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Directory of <domain>/{train,holdout}.jsonl (task domains: data/tasks; natural text: data/corpora).")
    var data = "data/tasks"

    @Option(help: "Directory of general.jsonl, hellaswag.jsonl, piqa.jsonl, winogrande.jsonl (skipped when absent).")
    var benchmarks = "data/benchmarks"

    @Option(help: "Domains in learning order (default medical,legal,code,finance,science; --quick: the first three).")
    var domains: String?

    @Option(help: "Strategies: naive, frozen, crma, crma-identity, replay, ewc, lwf, olora (default the first four; --quick: the first three).")
    var strategies: String?

    @Option(help: "lwf: weight α of the data's cross-entropy; 1 − α weighs T²·KL(teacher ‖ student).")
    var lwfAlpha: Float = 0.5

    @Option(help: "lwf: softmax temperature T of the distillation term.")
    var lwfTemperature: Float = 2

    @Option(help: "lwf: teacher states computed live each step, or cached (computed ahead into --out/teacher-cache).")
    var lwfTeacher = "live"

    @Option(help: "olora: strength λ of the orthogonality penalty λ·Σ‖A_i·A_kᵀ‖².")
    var oloraLambda: Float = 0.5

    @Option(help: "Seeds, comma-separated.")
    var seeds = "0,42,1234"

    @Option(help: "Optimizer steps per domain (unless --epochs is set).")
    var steps = 24

    @Option(help: "Passes over each domain's training rows (overrides --steps when > 0; 0 uses --steps).")
    var epochs = 2.0

    @Option(help: "Learning rate of LoRA and CRMA's projections (the proj group).")
    var learningRate: Float = 5e-4

    @Flag(help: "Also run every strategy gated, as crmad does: a rolled-back update is dropped and the next domain trains on the last accepted state (columns <strategy>+gate). The gated run starts from the ungated one at its first rollback.")
    var gated = false

    @Flag(help: "Only the gated runs (implies --gated): finishes a --gated run whose ungated runs were saved before it stopped; merge the two with scripts/results/merge.py.")
    var onlyGated = false

    @Option(help: "Sequences of 256 tokens per optimizer step.")
    var batchRows = 4

    @Option(help: "Training documents (examples) per domain.")
    var documents = 500

    @Option(help: "Holdout rows scored per domain.")
    var holdoutRows = 16

    @Option(help: "Multiple-choice items per task (HellaSwag, PIQA, WinoGrande) in the general benchmarks the gate judges (default crmad's, \(GeneralGateSettings().multipleChoiceItems); --quick: 30).")
    var multipleChoiceItems: Int?

    @Option(help: "Task domains: holdout items whose greedy answer is scored (exact match) per domain and update; 0 turns it off.")
    var answerItems = 100

    @Option(help: "Output directory.")
    var out = "var/forgetting"

    @Option(help: "Only re-render report.md and drift.svg from this results.json into --out.")
    var rerender: String?

    @Option(
        parsing: .upToNextOption,
        help: "Only print the model-size table (markdown) of these merged results.json files, one row per file, in this order: naive's and crma's average drift, crma − frozen, crma-identity − frozen, crma − frozen at learn time, and crma's loss change with its substrate off.")
    var compare: [String] = []

    @Flag(help: "One seed; naive, frozen, crma; medical, legal, code; 150 examples, 8 holdout rows, 40 answers, small benchmarks.")
    var quick = false

    func run() throws {
        if let rerender {
            try ForgettingBenchmark.rerender(resultsJSON: rerender, to: out)
            print("wrote \(out)/results.json, report.md, drift.svg")
            return
        }
        if !compare.isEmpty {
            let models = try compare.map { path in
                let saved = try ForgettingBenchmark.Output.read(path)
                let model = URL(fileURLWithPath: saved.settings["model"] ?? path).deletingPathExtension().lastPathComponent
                return (model: model, results: saved.results)
            }
            print(ForgettingReport.modelSizeTable(models), terminator: "")
            return
        }
        let lm = try common.load()
        var s = ForgettingBenchmark.Settings()
        let strategies = strategies ?? (quick ? "naive,frozen,crma" : "naive,frozen,crma,crma-identity")
        let domains = domains ?? (quick ? "medical,legal,code" : "medical,legal,code,finance,science")
        s.strategies = try strategies.split(separator: ",").map {
            guard let st = Strategy(rawValue: String($0)) else { throw ValidationError("unknown strategy \($0)") }
            return st
        }
        s.seeds = seeds.split(separator: ",").compactMap { UInt64($0) }
        s.config.stepsPerDomain = steps
        s.config.epochs = epochs
        s.config.optimizer.learningRates[.proj] = learningRate
        s.gated = gated || onlyGated
        s.ungated = !onlyGated
        s.answerItems = answerItems
        s.trainDocuments = documents
        s.holdoutRows = holdoutRows
        s.config.batchRows = batchRows
        if let multipleChoiceItems { s.general.multipleChoiceItems = multipleChoiceItems }
        guard let teacherMode = TeacherMode(rawValue: lwfTeacher) else {
            throw ValidationError("--lwf-teacher must be live or cached")
        }
        guard (0...1).contains(lwfAlpha), lwfTemperature > 0 else {
            throw ValidationError("--lwf-alpha must be in [0, 1] and --lwf-temperature positive")
        }
        s.config.lwfAlpha = lwfAlpha
        s.config.lwfTemperature = lwfTemperature
        s.config.lwfTeacher = teacherMode
        s.config.teacherCacheDirectory = out + "/teacher-cache"
        s.config.oloraLambda = oloraLambda
        if quick {
            s.seeds = [s.seeds.first ?? 0]
            s.trainDocuments = 150
            s.holdoutRows = 8
            s.answerItems = 40
            s.general.documents = 3
            s.general.multipleChoiceItems = multipleChoiceItems ?? 30
            s.general.probes = 2
        }
        guard FileManager.default.fileExists(atPath: data) else {
            throw ValidationError("no domains at \(data): run `make corpora` first, or pass --data DIR")
        }
        let command = CommandLine.arguments.joined(separator: " ")
        var settings = [
            "steps_per_domain": "\(s.config.stepsPerDomain)", "epochs": "\(s.config.epochs)",
            "learning_rate": "\(learningRate)", "gated": "\(s.gated)", "train_documents": "\(s.trainDocuments)",
            "holdout_rows": "\(s.holdoutRows)", "seq_len": "\(s.seqLen)", "batch_rows": "\(s.config.batchRows)",
            "lora":
                "r=\(s.config.lora.rank) alpha=\(s.config.lora.alpha) \(s.config.lora.targets.map(\.rawValue).joined(separator: ","))",
            "model": common.model, "data": data, "answer_items": "\(s.answerItems)",
            "precision": lm.model.precision.rawValue,
            // The gate judges the whole general suite as crmad does (before: bits per byte only).
            "general_gate":
                "documents=\(s.general.documents) probes=\(s.general.probes) items=\(s.general.multipleChoiceItems) bpb+accuracy+kl",
        ]
        if s.strategies.contains(.lwf) {
            settings["lwf"] = "alpha=\(lwfAlpha) temperature=\(lwfTemperature) teacher=\(lwfTeacher)"
        }
        if s.strategies.contains(.olora) { settings["olora"] = "lambda=\(oloraLambda)" }
        // Each run's progress is saved after every update: the same command started again resumes it.
        s.checkpointDirectory = out + "/checkpoints"
        s.statesDirectory = out + "/states"
        s.checkpointKey = String(decoding: try Self.sortedJSON.encode(settings), as: UTF8.self)
        let bench = ForgettingBenchmark(lm: lm, settings: s)
        let doms = try bench.loadDomains(data, names: domains.split(separator: ",").map(String.init))
        let general =
            FileManager.default.fileExists(atPath: benchmarks)
            ? try bench.loadGeneral(benchmarks) : GeneralSuite()
        let total = s.seeds.count * s.strategies.count * ((s.ungated ? 1 : 0) + (s.gated ? 1 : 0))
        let answers = try bench.loadAnswers(data, names: domains.split(separator: ",").map(String.init))
        let finished = try Self.finishedRuns(in: out, settings: settings)
        if !finished.isEmpty {
            FileHandle.standardError.write(
                Data("\(out)/results.json has \(finished.count) finished runs with these settings: kept, not run again\n".utf8))
        }
        let (results, base) = try bench.run(
            domains: doms, general: general, answers: answers, finished: finished,
            log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
            onRun: { partial, base in
                // Saved after every strategy and seed: an interrupted run still leaves its finished part.
                try ForgettingBenchmark.write(partial, base: base, command: command, settings: settings, to: out)
                FileHandle.standardError.write(Data("saved \(partial.count)/\(total) runs to \(out)\n".utf8))
            })
        try ForgettingBenchmark.write(results, base: base, command: command, settings: settings, to: out)
        print("wrote \(out)/results.json, report.md, drift.svg")
    }

    static var sortedJSON: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }

    /// The runs an earlier start of this benchmark finished and saved in `dir`/results.json, when it ran
    /// with exactly these settings (none otherwise: that file is then overwritten).
    static func finishedRuns(in dir: String, settings: [String: String]) throws -> [StrategyResult] {
        let path = dir + "/results.json"
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        guard let saved = try? JSONDecoder().decode(ForgettingBenchmark.Output.self, from: data) else {
            FileHandle.standardError.write(Data("\(path) is not a forgetting benchmark's results: it will be overwritten\n".utf8))
            return []
        }
        guard saved.settings == settings else {
            FileHandle.standardError.write(Data("\(path) was written with other settings: it will be overwritten\n".utf8))
            return []
        }
        return saved.results
    }
}
