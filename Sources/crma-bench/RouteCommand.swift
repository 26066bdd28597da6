import ArgumentParser
import CRMAAdapters
import CRMABenchmark
import CRMAContinual
import CRMAModel
import Foundation

/// How well the inference API's automatic routing (`model: "crma"`) picks a request's domain, and what a
/// wrong pick costs: each task domain's holdout questions routed among every learned domain.
struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Measure automatic domain routing on task domains' holdout questions.",
        discussion: """
            --state is a learned state with one LoRA per domain: a forgetting run's final adapters \
            (--out/states/<strategy>-<seed>.safetensors of `crma-bench forgetting`, e.g. crma or frozen) or a \
            crmad version's adapter blob. Each question (its prompt and the answer template's opening) is \
            routed by DomainRouter — the domain whose adapters give it the lowest loss — and answered greedily \
            (exact match) under the routed domain's adapters and under its own domain's (an oracle router). \
            Prints routing accuracy per domain, the confusion matrix, and both answer accuracies.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "The learned state (an adapter file with each domain's LoRA).")
    var state: String

    @Option(help: "The strategy it was learned with (which adapters score a domain).")
    var strategy = "crma"

    @Option(help: "Directory of <domain>/holdout.jsonl.")
    var data = "data/tasks"

    @Option(help: "Domains, comma-separated (the candidates and the questions' sources).")
    var domains = "medical,legal,code,finance,science"

    @Option(help: "Questions per domain.")
    var items = 40

    func run() throws {
        let lm = try common.load()
        guard let s = Strategy(rawValue: strategy) else { throw ValidationError("unknown strategy \(strategy)") }
        let learned = try LearnedState.load(state, model: lm.model)
        let names = domains.split(separator: ",").map(String.init)
        let candidates = names.map { (name: $0, adapters: learned.adapters(scoring: $0, learnedWith: s)) }
        let router = DomainRouter(model: lm.model)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: names.count), count: names.count)
        var routedRight = 0, oracleRight = 0, total = 0
        var perDomain: [String: Any] = [:]
        var seconds = 0.0
        for (j, name) in names.enumerated() {
            let questions = try AnswerAccuracy.load(
                file: (data as NSString).appendingPathComponent("\(name)/holdout.jsonl"), tokenizer: lm.tokenizer,
                limit: items)
            var right = 0, routedAnswers = 0, oracleAnswers = 0
            for q in questions {
                let t0 = Measure.now()
                let pick = router.route(q.context, candidates: candidates)!.domain
                seconds += Measure.now() - t0
                let k = names.firstIndex(of: pick)!
                confusion[j][k] += 1
                if k == j { right += 1 }
                let own = AnswerAccuracy.correct([q], model: lm.model, hooks: candidates[j].adapters)[0]
                let routed = k == j ? own : AnswerAccuracy.correct([q], model: lm.model, hooks: candidates[k].adapters)[0]
                if routed { routedAnswers += 1 }
                if own { oracleAnswers += 1 }
            }
            let n = max(questions.count, 1)
            perDomain[name] = [
                "questions": questions.count, "routing_accuracy": Double(right) / Double(n),
                "answer_accuracy_routed": Double(routedAnswers) / Double(n),
                "answer_accuracy_own_domain": Double(oracleAnswers) / Double(n),
            ]
            FileHandle.standardError.write(
                Data("\(name): routed right \(right)/\(questions.count), answers \(routedAnswers) routed vs \(oracleAnswers) own\n".utf8))
            routedRight += right
            oracleRight += oracleAnswers
            total += questions.count
            perDomain[name + "_routed_answers"] = routedAnswers
        }
        let routedAnswers = names.reduce(0) { $0 + (perDomain[$1 + "_routed_answers"] as! Int) }
        for n in names { perDomain[n + "_routed_answers"] = nil }
        Output.print(
            [
                "state": state, "strategy": strategy, "method": "lowest loss of the question under each domain's adapters",
                "domains": names, "routing_accuracy": Double(routedRight) / Double(max(total, 1)),
                "answer_accuracy_routed": Double(routedAnswers) / Double(max(total, 1)),
                "answer_accuracy_own_domain": Double(oracleRight) / Double(max(total, 1)),
                "ms_per_routing": seconds / Double(max(total, 1)) * 1000, "confusion_rows_true_columns_routed": confusion,
                "per_domain": perDomain,
            ], json: common.json)
    }
}
