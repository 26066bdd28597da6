import ArgumentParser
import CRMABenchmark
import CRMAModel
import CRMAMonitor
import Foundation

/// crma's own scores of evaluation items, item by item: what an evaluation harness pointed at crmad's
/// `/v1/completions` should reproduce (scripts/interop/lmeval_check.py compares them).
struct ItemsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "items",
        abstract: "Score evaluation items as crma does, item by item: multiple choice and short answers (JSON).",
        discussion: """
            Under the base model, or a learned domain's adapters (--adapters FILE --domain D --strategy S): \
            --multiple-choice FILE (jsonl of {"id", "context", "choices", "gold"}, HellaSwag-style, as the \
            general benchmarks score it) reports each choice's log-likelihood, acc and acc_norm; --answers FILE \
            (a task domain's jsonl of {"prompt", "completion", "answer"}) reports each answer's log-likelihood \
            after its context, whether greedy decoding produces it, and the exact-match rate crma-bench's \
            forgetting runs report. Each item carries its token ids and text, so another tool can be given \
            the same input. Always prints JSON.
            """)

    @OptionGroup var common: CommonOptions
    /// The base model when --adapters is absent.
    @OptionGroup var learned: AdapterOptions

    @Option(help: "Multiple-choice items (jsonl: id, context, choices, gold).")
    var multipleChoice: String?

    @Option(help: "Answer items (a task domain's holdout.jsonl: prompt, completion, answer).")
    var answers: String?

    @Option(help: "Items of each file, from the top.")
    var limit = 100

    @Option(help: "Context window in tokens (the general benchmarks' default).")
    var contextWindow = 256

    func run() throws {
        guard multipleChoice != nil || answers != nil else {
            throw ValidationError("give --multiple-choice FILE, --answers FILE or both")
        }
        let lm = try common.load()
        let hooks = try learned.load(lm)
        var out: [String: Any] = [
            "model": (common.model as NSString).lastPathComponent,
            "adapters": learned.adapters.map { ["file": $0, "domain": learned.domain, "strategy": learned.strategy] } ?? NSNull(),
        ]
        if let file = multipleChoice {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let items = try String(decoding: data, as: UTF8.self).split(separator: "\n").prefix(limit).map {
                try JSONDecoder().decode(MultipleChoiceItem.self, from: Data($0.utf8))
            }
            let bench = GeneralBenchmarks(model: lm.model, tokenizer: lm.tokenizer, context: contextWindow)
            let scored = bench.multipleChoiceLogLikelihoods(items, hooks: hooks)
            let (acc, norm) = GeneralBenchmarks.accuracy(items, logLikelihoods: scored)
            out["multiple_choice"] = [
                "file": file, "items": items.count, "acc": acc, "acc_norm": norm,
                "scores": zip(items, scored).map { item, lls in
                    [
                        "id": item.id, "gold": item.gold, "loglikelihoods": lls,
                        "context_tokens": lm.tokenizer.encode(item.context, addBOS: false).map(Int.init),
                        "choice_tokens": item.choices.map { lm.tokenizer.encode($0, addBOS: false).map(Int.init) },
                    ] as [String: Any]
                },
            ] as [String: Any]
        }
        if let file = answers {
            let items = try AnswerAccuracy.load(file: file, tokenizer: lm.tokenizer, limit: limit)
            let scores = AnswerAccuracy.scores(items, model: lm.model, hooks: hooks)
            out["answers"] = [
                "file": file, "items": items.count, "exact_match": AnswerAccuracy.rate(scores.map(\.greedy)),
                "scores": zip(items, scores).map { item, s in
                    [
                        "context": lm.tokenizer.decode(item.context), "answer": lm.tokenizer.decode(item.answer),
                        "context_tokens": item.context.map(Int.init), "answer_tokens": item.answer.map(Int.init),
                        "loglikelihood": s.logLikelihood, "greedy": s.greedy,
                    ] as [String: Any]
                },
            ] as [String: Any]
        }
        let json = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
