import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMATestSupport
import CRMATraining
import Foundation
import CRMAWire
import Testing
@testable import CRMABenchmark

/// `crma-bench curve` and `forgetting --only-gated` on the tiny model.
@Suite struct LearningCurveTests {
    /// A task domain of `n` prompt → completion items with a yes/no answer, as train.jsonl and holdout.jsonl.
    static func taskDomain(_ root: String, _ name: String) throws {
        try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
        func write(_ r: Range<Int>, _ file: String) throws {
            let lines = try r.map { i -> String in
                let a = ["yes", "no"][(i + name.count) % 2]
                let row: [String: Any] = ["prompt": "Item \(i) of \(name)?\n", "completion": "Answer: \(a).", "answer": a]
                return String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self)
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: "\(root)/\(name)/\(file)", atomically: true, encoding: .utf8)
        }
        try write(0..<24, "train.jsonl")
        try write(24..<30, "holdout.jsonl")
    }

    static func settings() -> ForgettingBenchmark.Settings {
        var s = ForgettingBenchmark.Settings()
        s.seeds = [0]
        s.seqLen = 32
        s.config.batchRows = 2
        s.config.lora = .init(rank: 2, alpha: 4, targets: [.q, .v])
        return s
    }

    @Test func measuresEveryStrideAndAlwaysTheLastStep() {
        // 10 rows, 2 per step: 5 steps per epoch; every half epoch = every 3 steps (2.5 rounded).
        #expect(LearningCurve.measuredSteps(steps: 10, rows: 10, batchRows: 2, every: 0.5) == [3, 6, 9, 10])
        #expect(LearningCurve.measuredSteps(steps: 10, rows: 10, batchRows: 2, every: 1) == [5, 10])
        #expect(LearningCurve.measuredSteps(steps: 2, rows: 10, batchRows: 2, every: 0.01) == [1, 2])
    }

    @Test func aCurveStartsAtTheBaseModelAndEndsWhereTrainingEnds() throws {
        let lm = try TinyModels.load("llama-f32")
        let root = NSTemporaryDirectory() + "crma-curve-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.taskDomain(root, "first")
        var s = Self.settings()
        s.config.optimizer.learningRates[.proj] = 0.02
        let bench = ForgettingBenchmark(lm: lm, settings: s)
        let domain = try bench.loadDomains(root, names: ["first"])[0]
        let answers = try bench.loadAnswers(root, names: ["first"])[0]
        let curve = LearningCurve(model: lm.model, config: s.config.with(strategy: .naive))
        let run = try curve.run(domain, answers: answers, epochs: 2, every: 0.5, seed: 0)
        let steps = Int((Double(domain.train.count) * 2 / 2).rounded(.up))
        #expect(run.steps == steps)
        #expect(run.points.map(\.step) == [0] + LearningCurve.measuredSteps(steps: steps, rows: domain.train.count, batchRows: 2, every: 0.5))
        #expect(run.points.first?.trainLoss == nil && run.points.dropFirst().allSatisfy { $0.trainLoss != nil })
        #expect(run.points.allSatisfy { $0.accuracy != nil })
        // The base model's loss, then lower once it has learned the template.
        let base = ContinualRun.baseLosses(model: lm.model, domains: [domain])[0]
        #expect(abs(run.points[0].holdoutLoss - base) < 1e-9)
        #expect(run.points.last!.holdoutLoss < base)
        // A second run can reuse the base measurement.
        let again = try curve.run(domain, answers: answers, epochs: 1, every: 1, seed: 0, base: run.points[0])
        #expect(again.points.first == run.points[0] && again.points.last?.step == again.steps)
        #expect(LearningCurve.markdown([run, again], domain: "first", strategy: "naive", command: "test").contains("| 2 | \(steps) |"))
    }

    /// The benchmark's gated run starts from the ungated run's fork: its losses and answers equal a
    /// gated run made from the start (--only-gated).
    @Test func aForkedGatedRunEqualsOneFromTheStart() throws {
        let lm = try TinyModels.load("llama-f32")
        let root = NSTemporaryDirectory() + "crma-fork-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["first", "second", "third"] { try Self.taskDomain(root, name) }
        var s = Self.settings()
        s.strategies = [.naive]
        s.config.stepsPerDomain = 12
        s.config.optimizer.learningRates[.proj] = 0.2
        s.gated = true
        func gatedResult(ungated: Bool) throws -> StrategyResult {
            var t = s
            t.ungated = ungated
            let bench = ForgettingBenchmark(lm: lm, settings: t)
            let names = ["first", "second", "third"]
            let (results, _) = try bench.run(
                domains: try bench.loadDomains(root, names: names), general: GeneralSuite(),
                answers: try bench.loadAnswers(root, names: names))
            return try #require(results.first { $0.strategy == "naive+gate" })
        }
        let forked = try gatedResult(ungated: true), whole = try gatedResult(ungated: false)
        #expect(whole.decisions?.contains { $0.outcome == "rolled_back" } == true, "the test needs a rollback")
        #expect(forked.matrix == whole.matrix)
        #expect(forked.accuracy == whole.accuracy)
        #expect(forked.decisions == whole.decisions)
    }

    @Test func onlyGatedRunsLeaveOutTheUngatedOnes() throws {
        let lm = try TinyModels.load("llama-f32")
        let root = NSTemporaryDirectory() + "crma-gated-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["first", "second"] { try Self.taskDomain(root, name) }
        var s = Self.settings()
        s.strategies = [.frozen]
        s.config.stepsPerDomain = 2
        s.gated = true
        s.ungated = false
        let bench = ForgettingBenchmark(lm: lm, settings: s)
        let (results, _) = try bench.run(domains: try bench.loadDomains(root, names: ["first", "second"]), general: GeneralSuite())
        #expect(results.map(\.strategy) == ["frozen+gate"])
        #expect(results.first?.gated == true)
    }
}
