import ArgumentParser
import CRMAAdapters
import CRMABenchmark
import CRMAContinual
import CRMAModel
import CRMATraining
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
            crmad version's adapter blob. The domains' routing examples and centroids come from the state (kept \
            since routing existed) or, for older states, from --data/<domain>/train.jsonl the way an update \
            computes them. With --method classifier (the default, what crmad does) a classifier with one class \
            per domain and a "no domain" class decides; the "no domain" examples are the first 300 characters \
            of the first 64 documents of general.jsonl (crmad uses its general benchmarks' documents). With \
            --method centroid the most similar centroid wins if the similarity reaches the minimum, else the \
            base model answers. Each question (its prompt and the answer template's opening) and each \
            general-text prompt (the first 300 characters of the --general-items documents after those 64) is \
            routed. Questions \
            are answered greedily (exact match) under the routed adapters, under their own domain's (an oracle \
            router) and under the base model. Prints routing accuracy per domain, the confusion matrix, the \
            answer accuracies, how the minimum similarity trades questions kept against general text sent to \
            the base model, and the milliseconds a routing decision takes.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "The learned state (an adapter file with each domain's LoRA).")
    var state: String

    @Option(help: "The strategy it was learned with (which adapters score a domain).")
    var strategy = "crma"

    @Option(help: "Directory of <domain>/{train,holdout}.jsonl.")
    var data = "data/tasks"

    @Option(help: "general.jsonl for prompts no domain was learned from (skipped when absent).")
    var general = "data/benchmarks/general.jsonl"

    @Option(help: "Domains, comma-separated (the candidates and the questions' sources).")
    var domains = "medical,legal,code,finance,science"

    @Option(help: "Questions per domain.")
    var items = 40

    @Option(help: "General-text prompts.")
    var generalItems = 40

    @Option(help: "classifier (one class per domain and one for no domain; crmad's) or centroid (nearest centroid above a minimum similarity).")
    var method = "classifier"

    @Option(help: "Minimum similarities of the centroid rule to compare, comma-separated; the first is the one answers use.")
    var minimums = "\(DomainRouter.defaultMinimumSimilarity),0.8,0.85,0.95,0.97"

    struct Routed {
        var domain: String?
        var similarities: [String: Float]
        var seconds: Double
    }

    func run() throws {
        let lm = try common.load()
        guard let s = Strategy(rawValue: strategy) else { throw ValidationError("unknown strategy \(strategy)") }
        let minimumList = minimums.split(separator: ",").compactMap { Float($0) }
        guard let minimum = minimumList.first else { throw ValidationError("--minimums needs at least one number") }
        let learned = try LearnedState.load(state, model: lm.model)
        let names = domains.split(separator: ",").map(String.init)
        let adapters = names.map { learned.adapters(scoring: $0, learnedWith: s) }
        guard let routingMethod = DomainRouter.Method(rawValue: method) else {
            throw ValidationError("--method is classifier or centroid")
        }
        if names.contains(where: { learned.routingExamples[$0] == nil }) {
            // A state saved before routing examples were kept: embed its domains' training rows now.
            var settings = ForgettingBenchmark.Settings()
            settings.trainDocuments = 500
            for d in try ForgettingBenchmark(lm: lm, settings: settings).loadDomains(data, names: names)
            where learned.routingExamples[d.name] == nil {
                let examples = RoutingCentroid.examples(model: lm.model, rows: d.train)
                learned.routingExamples[d.name] = examples
                learned.routing[d.name] = RoutingCentroid.centroid(examples: examples, dimension: lm.model.config.hiddenSize)
            }
        }
        let documents = try generalDocuments()
        let generalExamples = RoutingCentroid.generalExamples(model: lm.model, tokenizer: lm.tokenizer, documents: documents)
        let router = DomainRouter(
            learned: learned, domains: Set(names), model: lm.model, general: generalExamples, method: routingMethod,
            minimumSimilarity: minimum)
        func route(_ tokens: [Int32]) -> Routed {
            let t0 = Measure.now()
            let d = router.route(tokens)!
            return Routed(domain: d.domain, similarities: d.similarities, seconds: Measure.now() - t0)
        }
        // The centroid rule's minimum trades questions kept against general text let through; the
        // classifier has no such knob (its decision is the routed domain).
        func pick(_ x: Routed, _ m: Float) -> String? {
            router.method == .classifier ? x.domain : DomainRouter.decide(similarities: x.similarities, minimum: m).domain
        }
        var questions: [[(item: AnswerItem, routed: Routed)]] = []
        for name in names {
            let items = try AnswerAccuracy.load(
                file: (data as NSString).appendingPathComponent("\(name)/holdout.jsonl"), tokenizer: lm.tokenizer,
                limit: items)
            questions.append(items.map { ($0, route($0.context)) })
        }
        let prompts = documents.dropFirst(RoutingCentroid.rows).prefix(generalItems).map {
            route(lm.tokenizer.encode(String($0.prefix(RoutingCentroid.generalPrefix))))
        }

        // Routing and answers at the first minimum.
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: names.count + 1), count: names.count)
        var perDomain: [String: Any] = [:]
        var totals = (routed: 0, oracle: 0, base: 0, right: 0, n: 0)
        for (j, name) in names.enumerated() {
            var right = 0, routed = 0, oracle = 0, base = 0
            for (item, r) in questions[j] {
                let k = pick(r, minimum).flatMap { names.firstIndex(of: $0) }
                confusion[j][k ?? names.count] += 1
                if k == j { right += 1 }
                let own = AnswerAccuracy.correct([item], model: lm.model, hooks: adapters[j])[0]
                let none = AnswerAccuracy.correct([item], model: lm.model, hooks: nil)[0]
                let answer =
                    k == j ? own : k.map { AnswerAccuracy.correct([item], model: lm.model, hooks: adapters[$0])[0] } ?? none
                (routed, oracle, base) = (routed + (answer ? 1 : 0), oracle + (own ? 1 : 0), base + (none ? 1 : 0))
            }
            let n = questions[j].count
            perDomain[name] = [
                "questions": n, "routing_accuracy": Self.rate(right, n), "answer_accuracy_routed": Self.rate(routed, n),
                "answer_accuracy_oracle": Self.rate(oracle, n), "answer_accuracy_base": Self.rate(base, n),
            ]
            FileHandle.standardError.write(Data("\(name): routed right \(right)/\(n)\n".utf8))
            totals = (totals.routed + routed, totals.oracle + oracle, totals.base + base, totals.right + right, totals.n + n)
        }
        // The minimum similarity's trade-off.
        var byMinimum: [[String: Any]] = []
        for m in router.method == .centroid ? minimumList : [] {
            let kept = names.indices.reduce(0) { acc, j in acc + questions[j].filter { pick($0.routed, m) == names[j] }.count }
            let toBase = prompts.filter { pick($0, m) == nil }.count
            byMinimum.append([
                "minimum_similarity": Double(m), "questions_routed_right": Self.rate(kept, totals.n),
                "general_prompts_to_base": Self.rate(toBase, prompts.count),
            ])
        }
        let all = questions.joined().map(\.routed) + prompts
        Output.print(
            [
                "state": state, "strategy": strategy, "minimum_similarity": Double(minimum), "domains": names,
                "method": router.method == .classifier
                    ? "classifier (logistic regression) on the request's mean base-model hidden state: a class per domain and one for no domain"
                    : "cosine similarity of the request's mean base-model hidden state to each domain's centroid",
                "routing_accuracy": Self.rate(totals.right, totals.n),
                "answer_accuracy_routed": Self.rate(totals.routed, totals.n),
                "answer_accuracy_oracle": Self.rate(totals.oracle, totals.n),
                "answer_accuracy_base": Self.rate(totals.base, totals.n),
                "ms_per_routing": all.map(\.seconds).reduce(0, +) / Double(max(all.count, 1)) * 1000,
                "confusion_rows_true_columns_routed_then_base": confusion, "per_domain": perDomain,
                "general_prompts": prompts.count, "by_minimum_similarity": byMinimum,
                "general_prompts_to_base": Self.rate(prompts.filter { pick($0, minimum) == nil }.count, prompts.count),
                "routing_method": router.method.rawValue,
            ], json: common.json)
    }

    static func rate(_ k: Int, _ n: Int) -> Double { n == 0 ? 0 : Double(k) / Double(n) }

    /// The documents of general.jsonl (none when it is absent).
    func generalDocuments() throws -> [String] {
        guard FileManager.default.fileExists(atPath: general) else { return [] }
        return try DocumentReader.read(file: general).compactMap { if case .text(let body) = $0.0 { body } else { nil } }
    }
}
