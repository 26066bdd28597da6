import CRMAModel
import CRMANumerics
import Foundation

/// One holdout example with a short gold answer: the tokens before the answer (the prompt and the
/// template's fixed opening of the completion, e.g. "Answer: ") and the answer's own tokens.
public struct AnswerItem: Sendable, Equatable {
    public var context: [Int32]
    public var answer: [Int32]

    public init(context: [Int32], answer: [Int32]) {
        self.context = context
        self.answer = answer
    }
}

/// Exact-match accuracy of the greedy answer on a task domain's holdout: an item counts when greedy
/// decoding after its context produces exactly the gold answer's tokens. By induction over the answer's
/// tokens that is "every answer token is the argmax given the gold tokens before it", so one forward pass
/// per item decides it (no sampling loop). The template's fixed opening ("Answer: ") is given, not
/// generated: the metric asks whether the model picks the right answer, not whether it remembers the
/// template's first word.
///
/// Answers (the task files' `answer` field): a multiple-choice letter (completion "Answer: B. …"), a label
/// that is the whole completion (PrivacyQA's "Relevant" / "Irrelevant"), or for code the reference's
/// first line that is not a package, import or include line (a first line like Go's `package main` is the
/// same for every task and would be a free point). The line break is not part of it: the tokenizer joins
/// it with the next line's indentation, so it belongs to what follows.
public enum AnswerAccuracy {
    struct Line: Decodable {
        var prompt: String
        var completion: String
        var answer: String?
    }

    /// Where the answer stands in a completion: the text before it, and the answer itself; nil when the
    /// completion does not state it in a recognised way.
    static func span(completion: String, answer: String) -> (before: String, answer: String)? {
        if completion.hasSuffix("```") {
            var before = ""
            for line in completion.split(separator: "\n", omittingEmptySubsequences: false) {
                let t = line.trimmingCharacters(in: .whitespaces)
                let skip = ["package ", "import ", "from ", "use ", "#include", "```", "//", "#!"]
                if t.isEmpty || skip.contains(where: { t.hasPrefix($0) }) || t == "import" {
                    before += line + "\n"
                    continue
                }
                return (before, String(line))
            }
            return nil
        }
        if completion.hasPrefix("Answer: " + answer) { return ("Answer: ", answer) }
        if completion.hasPrefix(answer) { return ("", answer) }
        return nil
    }

    /// The items of a task file (`{"prompt", "completion", "answer"}` per line; lines without an answer
    /// are skipped), at most `limit`, tokenized as training tokenizes a prompt/completion pair.
    public static func load(file: String, tokenizer: Tokenizer, limit: Int, maxContext: Int = 512) throws -> [AnswerItem] {
        guard let data = FileManager.default.contents(atPath: file) else { return [] }
        var items: [AnswerItem] = []
        for raw in String(decoding: data, as: UTF8.self).split(separator: "\n") where items.count < limit {
            guard let line = try? JSONDecoder().decode(Line.self, from: Data(raw.utf8)), let a = line.answer,
                !a.isEmpty, let s = span(completion: line.completion, answer: a)
            else { continue }
            let prompt = tokenizer.encode(line.prompt)
            let through = tokenizer.encode(s.before + s.answer, addBOS: false)
            // The answer's tokens as the completion tokenizes them. BPE may join the opening's last
            // character with the answer ("Answer:" + " B"): the context then ends at the longest run of
            // tokens that stays inside the opening, and the answer's first token carries the rest of it.
            var split = 0
            while split < through.count, s.before.hasPrefix(tokenizer.decode(Array(through[...split]))) { split += 1 }
            let answer = Array(through[split...])
            let context = Array((prompt + through[..<split]).suffix(maxContext - answer.count))
            guard !answer.isEmpty, !context.isEmpty else { continue }
            items.append(AnswerItem(context: context, answer: answer))
        }
        return items
    }

    /// Whether greedy decoding gets each item right under `hooks` (nil: the base model).
    public static func correct(_ items: [AnswerItem], model: LlamaModel, hooks: (any LlamaAdapterHooks)?) -> [Bool] {
        scores(items, model: model, hooks: hooks).map(\.greedy)
    }

    /// One item's answer under a model state: its summed log-likelihood after the context, and whether every
    /// answer token is its position's most likely token (what lm-eval's `loglikelihood` returns as
    /// `(logprob, is_greedy)`).
    public struct Score: Sendable, Equatable {
        public var logLikelihood: Double
        public var greedy: Bool
    }

    /// Each item's ``Score`` under `hooks` (nil: the base model): one forward pass per item, only the
    /// positions that predict the answer's tokens reaching the head.
    public static func scores(_ items: [AnswerItem], model: LlamaModel, hooks: (any LlamaAdapterHooks)?) -> [Score] {
        let pass = LlamaTrainingPass(model: model, hooks: hooks)
        return items.map { item in
            var b = TrainingBatch.unscored(item.context + item.answer.dropLast())
            for (i, t) in item.answer.enumerated() { b.targets[item.context.count - 1 + i] = t }
            let scored = pass.tokenLogProbs(b, top: 1).compactMap { $0 }
            return Score(
                logLikelihood: scored.map(\.logprob).reduce(0, +), greedy: scored.allSatisfy { $0.top.first?.id == $0.id })
        }
    }

    /// The share of items right, in [0, 1] (nan for none).
    public static func rate(_ correct: [Bool]) -> Double {
        correct.isEmpty ? .nan : Double(correct.filter { $0 }.count) / Double(correct.count)
    }
}
