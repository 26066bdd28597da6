import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMATestSupport
import CRMATraining
import Foundation
import CRMAWire
import Testing
@testable import CRMABenchmark
@testable import CRMAContinual

/// The forgetting benchmark's whole code path on the tiny model: files in, results.json, report.md and
/// drift.svg out.
@Suite struct ForgettingBenchmarkTests {
    func writeJSONL(_ rows: [[String: Any]], _ path: String) throws {
        let lines = try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func writesResultsReportAndChart() throws {
        let lm = try TinyModels.load("llama-f32")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("crma-forget-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let families: [(String, (Int) -> String)] = [
            ("animals", { "The \(["cat", "dog", "owl"][$0 % 3]) sleeps under the \(["tree", "table"][$0 % 2])." }),
            ("numbers", { "\($0 * 7) plus \($0 * 3) equals \($0 * 10)." }),
        ]
        for (name, gen) in families {
            try FileManager.default.createDirectory(
                atPath: "\(root)/corpora/\(name)", withIntermediateDirectories: true)
            try writeJSONL((0..<24).map { ["text": gen($0)] }, "\(root)/corpora/\(name)/train.jsonl")
            try writeJSONL((24..<30).map { ["text": gen($0)] }, "\(root)/corpora/\(name)/holdout.jsonl")
        }
        try FileManager.default.createDirectory(atPath: "\(root)/benchmarks", withIntermediateDirectories: true)
        try writeJSONL(
            (0..<3).map { ["text": "General text number \($0), with several words in it."] },
            "\(root)/benchmarks/general.jsonl")
        try writeJSONL(
            [["id": "a", "context": "The cat", "choices": [" sat", " flew"], "gold": 0]],
            "\(root)/benchmarks/hellaswag.jsonl")

        var s = ForgettingBenchmark.Settings()
        s.strategies = [.naive, .frozen, .crma]
        s.seeds = [0, 1]
        s.seqLen = 32
        s.config.stepsPerDomain = 6
        s.config.batchRows = 2
        s.config.lora = .init(rank: 2, alpha: 4, targets: [.q, .v])
        s.general.documents = 2
        s.general.probes = 1
        let bench = ForgettingBenchmark(lm: lm, settings: s)
        let domains = try bench.loadDomains("\(root)/corpora", names: ["animals", "numbers"])
        var lines: [String] = []
        let (results, base) = try bench.run(domains: domains, general: try bench.loadGeneral("\(root)/benchmarks")) {
            lines.append($0)
        }
        #expect(results.count == 6)
        // One line for scoring the base model, then one per domain learned (2 domains × 3 strategies × 2 seeds).
        #expect(lines.filter { $0.contains(": learned ") }.count == 12)
        #expect(lines.first?.hasPrefix("scoring the base model") == true)
        #expect(base["hellaswag_acc"] != nil && base["general_bits_per_byte"] != nil)
        #expect(results.allSatisfy { $0.decisions?.count == 2 })
        #expect(results.allSatisfy { $0.general["probe_top1_agreement"] != nil })
        // frozen: the earlier domain's loss is unchanged, so its drift and interval are exactly 0.
        let frozen = results.first { $0.strategy == "frozen" }!
        #expect(ForgettingMetrics.driftVsLearnTime(frozen.matrix, k: 1, j: 0) == 0)
        #expect(frozen.driftIntervals[1][0] == Interval(low: 0, high: 0))

        let out = "\(root)/out"
        try ForgettingBenchmark.write(
            results, base: base, command: "crma-bench forgetting (test)", settings: [:], to: out)
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(report.contains("| domain | naive | frozen | crma |"))
        #expect(report.contains("| animals |"))
        #expect(report.contains("## Bootstrap 95% intervals"))
        #expect(report.contains("Advantage over frozen") && report.contains("- crma: ") && report.contains("(at learn time "))
        let svg = try String(contentsOfFile: out + "/drift.svg", encoding: .utf8)
        #expect(svg.components(separatedBy: "<polyline").count == 4)
        #expect(report.contains("relative change vs the base model"))
        // results.json holds everything the report needs: re-rendering reproduces it exactly.
        try ForgettingBenchmark.rerender(resultsJSON: out + "/results.json", to: "\(root)/again")
        #expect(try String(contentsOfFile: "\(root)/again/report.md", encoding: .utf8) == report)
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/results.json")))
            as! [String: Any]
        #expect((json["results"] as? [Any])?.count == 6)
    }

    /// Task domains: the answer of each holdout item is scored after every update (the accuracy matrix),
    /// and crma's substrate is ablated after the last one.
    @Test func scoresAnswerAccuracyAndTheSubstrateAblationOnTaskDomains() throws {
        let lm = try TinyModels.load("llama-f32")
        let root = NSTemporaryDirectory() + "crma-tasks-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let labels = ["yes", "no"]
        for (name, offset) in [("first", 0), ("second", 1)] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            func rows(_ r: Range<Int>) -> [[String: Any]] {
                r.map { i in
                    let a = labels[(i + offset) % 2]
                    return ["prompt": "Item \(i) of \(name)?\n", "completion": "Answer: \(a).", "answer": a]
                }
            }
            try writeJSONL(rows(0..<24), "\(root)/\(name)/train.jsonl")
            try writeJSONL(rows(24..<30), "\(root)/\(name)/holdout.jsonl")
        }
        var s = ForgettingBenchmark.Settings()
        s.strategies = [.crma]
        s.seeds = [0]
        s.seqLen = 32
        s.config.stepsPerDomain = 4
        s.config.batchRows = 2
        s.config.lora = .init(rank: 2, alpha: 4, targets: [.q, .v])
        let bench = ForgettingBenchmark(lm: lm, settings: s)
        let names = ["first", "second"]
        let answers = try bench.loadAnswers(root, names: names)
        #expect(answers.map(\.count) == [6, 6])
        let (results, _) = try bench.run(
            domains: try bench.loadDomains(root, names: names), general: GeneralSuite(), answers: answers)
        let r = try #require(results.first)
        let acc = try #require(r.accuracy)
        #expect(acc.count == 2 && acc[0].count == 1 && acc[1].count == 2)
        #expect(acc.joined().allSatisfy { $0.map { (0...1).contains($0) } ?? false })
        #expect(r.accuracyIntervals?[1][0] != nil && r.baseAccuracy?.count == 2)
        #expect(Set(r.substrateAblation?.keys ?? [:].keys) == ["first", "second"])
        let md = ForgettingReport.markdown(results, command: "test")
        #expect(md.contains("Answer accuracy") && md.contains("CRMA on vs off"))
    }
}

@Suite struct AnswerAccuracyTests {
    /// The model-size table: one row per model, each cell mean ± std over the seeds that have it (their
    /// number in parentheses), values worked out by hand.
    @Test func theModelSizeTableComparesTheClaimAcrossModels() {
        func run(
            _ strategy: String, _ seed: UInt64, learned: Double = 2.0, earlierAfter: Double,
            ablation: [String: SubstrateAblation]? = nil
        ) -> StrategyResult {
            var m = LossMatrix()
            m.append(domain: "a", losses: [learned])
            m.append(domain: "b", losses: [earlierAfter, 1.0])
            return StrategyResult(
                strategy: strategy, seed: seed, matrix: m, baseLosses: [3, 3], driftIntervals: [], seconds: 1, general: [:],
                substrateAblation: ablation)
        }
        let small = [
            run("naive", 0, earlierAfter: 2.2), run("naive", 1, earlierAfter: 2.4), run("frozen", 0, earlierAfter: 2.0),
            run("crma", 0, learned: 1.8, earlierAfter: 1.9, ablation: [
                "a": SubstrateAblation(lossWith: 1.9, lossWithout: 1.995, accuracyWith: nil, accuracyWithout: nil),
                "b": SubstrateAblation(lossWith: 1.0, lossWithout: 1.0, accuracyWith: nil, accuracyWithout: nil),
            ]),
        ]
        let lines = ForgettingReport.modelSizeTable([("small", small), ("big", [run("naive", 0, earlierAfter: 2.2)])])
            .split(separator: "\n")
        #expect(lines.count == 4)
        // crma learned a at 1.8 (frozen 2.0: +10% at learn time) and drifted to 1.9 (+5.56%): +5% left.
        #expect(lines[2] == "| small | +15.00 ± 7.07 (2) | +5.56 (1) | +5.00 (1) | – | +10.00 (1) | +2.50 (1) |")
        #expect(lines[3] == "| big | +10.00 (1) | – | – | – | – | – |")
    }

    @Test func findsTheAnswerAfterTheTemplatesOpeningAndSkipsBoilerplateCodeLines() {
        #expect(AnswerAccuracy.span(completion: "Answer: A. an apple", answer: "A")! == ("Answer: ", "A"))
        #expect(AnswerAccuracy.span(completion: "Irrelevant", answer: "Irrelevant")! == ("", "Irrelevant"))
        let go = "package main\n\nimport \"fmt\"\n\nfunc add(a, b int) int {\n    return a + b\n}\n```"
        let s = AnswerAccuracy.span(completion: go, answer: "package main")!
        #expect(s.answer == "func add(a, b int) int {" && s.before.hasPrefix("package main\n"))
        #expect(AnswerAccuracy.span(completion: "Something else", answer: "B") == nil)
    }

    /// "Answer: B" tokenizes with the space joined to the letter: the context keeps "Answer:" and the
    /// answer is " B" (before, the whole "Answer: B" was taken as the answer, so a model that gets the
    /// letter right but does not open with the template's word scored 0).
    @Test func theContextEndsWhereTheAnswersFirstTokenBegins() throws {
        let lm = try TinyModels.load("llama-f32")
        let file = NSTemporaryDirectory() + "answers-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try #"{"prompt": "Which?\n", "completion": "Answer: B. the second", "answer": "B"}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let item = try #require(try AnswerAccuracy.load(file: file, tokenizer: lm.tokenizer, limit: 10).first)
        let opening = lm.tokenizer.decode(Array(item.context.suffix(item.context.count - lm.tokenizer.encode("Which?\n", addBOS: false).count)))
        let answer = lm.tokenizer.decode(item.answer)
        #expect("Answer: ".hasPrefix(opening) && !opening.isEmpty)
        #expect(opening + answer == "Answer: B")
    }

    /// The greedy answer is right exactly when every answer token is the argmax given the ones before.
    @Test func anItemIsRightExactlyWhenGreedyDecodingReproducesTheAnswer() throws {
        let lm = try TinyModels.load("llama-f32")
        let context = lm.tokenizer.encode("The cat sat on the", addBOS: false)
        // The inference path (KV cache, its own code) decides what greedy decoding produces.
        let greedy = Generator(lm).generate(prompt: context, maxTokens: 2).tokens
        try #require(greedy.count == 2)
        let right = AnswerItem(context: context, answer: greedy)
        var wrong = right
        wrong.answer[1] = (greedy[1] + 1) % Int32(lm.model.config.vocabSize)
        #expect(AnswerAccuracy.correct([right, wrong], model: lm.model, hooks: nil) == [true, false])
    }
}
