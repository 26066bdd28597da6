import ArgumentParser
import CRMAAdapters
import CRMABenchmark
import CRMAContinual
import CRMAModel
import Foundation

/// How well the inference API's automatic routing (`model: "crma"`) picks a request's domain, and what it
/// costs in answers: each task domain's holdout questions, and general text no domain was learned from,
/// routed among every learned domain (or to the base model).
struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Measure automatic domain routing on task domains' holdout questions and on general text.",
        discussion: """
            --state is a learned state with one LoRA per domain: a forgetting run's final adapters \
            (--out/states/<strategy>-<seed>.safetensors of `crma-bench forgetting`, e.g. crma or frozen) or a \
            crmad version's adapter blob. Each question (its prompt and the answer template's opening) and each \
            general-text prompt (the first words of data/benchmarks/general.jsonl's documents) is scored under \
            every domain's adapters and the base model (DomainRouter); the lowest loss wins if it is at least \
            the fallback margin below the base model's, else the base model answers. Questions are answered \
            greedily (exact match) under the routed adapters, under their own domain's (an oracle router) and \
            under the base model. Prints routing accuracy per domain, the confusion matrix, the answer \
            accuracies, how the fallback margin trades questions kept against general text sent to the base \
            model, and the milliseconds a routing decision takes.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "The learned state (an adapter file with each domain's LoRA).")
    var state: String

    @Option(help: "The strategy it was learned with (which adapters score a domain).")
    var strategy = "crma"

    @Option(help: "Directory of <domain>/holdout.jsonl.")
    var data = "data/tasks"

    @Option(help: "general.jsonl for prompts no domain was learned from (skipped when absent).")
    var general = "data/benchmarks/general.jsonl"

    @Option(help: "Domains, comma-separated (the candidates and the questions' sources).")
    var domains = "medical,legal,code,finance,science"

    @Option(help: "Questions per domain.")
    var items = 40

    @Option(help: "General-text prompts.")
    var generalItems = 40

    @Option(help: "Fallback margins (nats per token) to compare, comma-separated; the first is the one answers use.")
    var margins = "\(DomainRouter.defaultFallbackMargin),0.02,0.05,0.1"

    struct Scored {
        var losses: [String: Double]
        var base: Double
        var seconds: Double
    }

    func run() throws {
        let lm = try common.load()
        guard let s = Strategy(rawValue: strategy) else { throw ValidationError("unknown strategy \(strategy)") }
        let marginList = margins.split(separator: ",").compactMap { Double($0) }
        guard let margin = marginList.first else { throw ValidationError("--margins needs at least one number") }
        let learned = try LearnedState.load(state, model: lm.model)
        let names = domains.split(separator: ",").map(String.init)
        let candidates = names.map { (name: $0, adapters: learned.adapters(scoring: $0, learnedWith: s)) }
        func score(_ tokens: [Int32]) -> Scored {
            let t0 = Measure.now()
            let d = DomainRouter(model: lm.model).route(tokens, candidates: candidates)!
            return Scored(losses: d.losses, base: d.baseLoss ?? .infinity, seconds: Measure.now() - t0)
        }
        func pick(_ x: Scored, _ m: Double) -> String? {
            x.losses.isEmpty ? nil : DomainRouter.decide(losses: x.losses, order: names, baseLoss: x.base, margin: m).domain
        }
        var questions: [[(item: AnswerItem, scored: Scored)]] = []
        for name in names {
            let items = try AnswerAccuracy.load(
                file: (data as NSString).appendingPathComponent("\(name)/holdout.jsonl"), tokenizer: lm.tokenizer,
                limit: items)
            questions.append(items.map { ($0, score($0.context)) })
            FileHandle.standardError.write(Data("\(name): \(items.count) questions routed\n".utf8))
        }
        let prompts = try generalPrompts(lm.tokenizer).map(score)

        // Routing and answers at the first margin.
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: names.count + 1), count: names.count)
        var perDomain: [String: Any] = [:]
        var totals = (routed: 0, oracle: 0, base: 0, right: 0, n: 0)
        for (j, name) in names.enumerated() {
            var right = 0, routed = 0, oracle = 0, base = 0
            for (item, scored) in questions[j] {
                let choice = pick(scored, margin)
                let k = choice.flatMap { names.firstIndex(of: $0) }
                confusion[j][k ?? names.count] += 1
                if k == j { right += 1 }
                let own = AnswerAccuracy.correct([item], model: lm.model, hooks: candidates[j].adapters)[0]
                let none = AnswerAccuracy.correct([item], model: lm.model, hooks: nil)[0]
                let answer = k == j ? own : k.map { AnswerAccuracy.correct([item], model: lm.model, hooks: candidates[$0].adapters)[0] } ?? none
                (routed, oracle, base) = (routed + (answer ? 1 : 0), oracle + (own ? 1 : 0), base + (none ? 1 : 0))
            }
            let n = questions[j].count
            perDomain[name] = [
                "questions": n, "routing_accuracy": Self.rate(right, n), "answer_accuracy_routed": Self.rate(routed, n),
                "answer_accuracy_oracle": Self.rate(oracle, n), "answer_accuracy_base": Self.rate(base, n),
            ]
            totals = (totals.routed + routed, totals.oracle + oracle, totals.base + base, totals.right + right, totals.n + n)
        }
        // The fallback margin's trade-off.
        var byMargin: [[String: Any]] = []
        for m in marginList {
            let kept = zip(names.indices, questions).reduce(0) { acc, q in acc + q.1.filter { pick($0.scored, m) == names[q.0] }.count }
            let toBase = prompts.filter { pick($0, m) == nil }.count
            byMargin.append([
                "margin_nats": m, "questions_routed_right": Self.rate(kept, totals.n),
                "general_prompts_to_base": prompts.isEmpty ? NSNull() : Self.rate(toBase, prompts.count) as Any,
            ])
        }
        let all = questions.joined().map(\.scored) + prompts
        Output.print(
            [
                "state": state, "strategy": strategy, "margin_nats": margin, "domains": names,
                "method": "lowest loss of the request under each domain's adapters, if at least the margin below the base model's",
                "routing_accuracy": Self.rate(totals.right, totals.n),
                "answer_accuracy_routed": Self.rate(totals.routed, totals.n),
                "answer_accuracy_oracle": Self.rate(totals.oracle, totals.n),
                "answer_accuracy_base": Self.rate(totals.base, totals.n),
                "ms_per_routing": all.map(\.seconds).reduce(0, +) / Double(max(all.count, 1)) * 1000,
                "confusion_rows_true_columns_routed_then_base": confusion, "per_domain": perDomain,
                "general_prompts": prompts.count, "by_margin": byMargin,
            ], json: common.json)
    }

    static func rate(_ k: Int, _ n: Int) -> Double { n == 0 ? 0 : Double(k) / Double(n) }

    /// The first sentence or so (up to 300 characters) of the first `generalItems` documents of general.jsonl.
    func generalPrompts(_ tokenizer: Tokenizer) throws -> [[Int32]] {
        guard let text = try? String(contentsOfFile: general, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").prefix(generalItems).compactMap { line in
            guard let data = line.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let body = object["text"] as? String
            else { return nil }
            return tokenizer.encode(String(body.prefix(300)))
        }
    }
}
