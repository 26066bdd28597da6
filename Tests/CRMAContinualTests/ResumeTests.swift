import CRMAAdapters
import CRMAModel
import CRMATestSupport
import CRMATraining
import Foundation
import CRMAWire
import Testing
@testable import CRMABenchmark
@testable import CRMAContinual

/// A long forgetting run stopped mid-way (a session ends, the machine reboots) resumes at its next update
/// from what the benchmark saved after the last one, and ends exactly where the run that never stopped ends.
@Suite struct ResumeTests {
    struct Interrupted: Error {}

    func parameters(_ s: LearnedState) -> [Float] {
        s.loras.keys.sorted().flatMap { s.loras[$0]!.parameters.flatMap(\.value.array) }
            + (s.crma?.parameters.flatMap(\.value.array) ?? [])
    }

    /// naive at a high learning rate rolls back an update (so the ungated run has a fork to keep too);
    /// crma has a substrate, ewc a Fisher memory, replay earlier domains' rows: all must survive the files.
    @Test(arguments: [Strategy.naive, .crma, .ewc, .replay])
    func aRunStoppedAfterAnUpdateResumesFromItsFilesAndEndsTheSame(_ strategy: Strategy) throws {
        let lm = try TinyModels.load("llama-f32")
        var c = TinyDomains.config(strategy)
        if strategy == .naive { c.optimizer.learningRates = [.proj: 1e-1, .structural: 5e-3, .gate: 1e-2] }
        let domains = TinyDomains.make(lm)
        let whole = try ContinualRun(model: lm.model, config: c).run(domains)

        let dir = NSTemporaryDirectory() + "crma-resume-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let checkpoints = RunCheckpoints(directory: dir, key: "test")
        #expect(throws: Interrupted.self) {
            try ContinualRun(model: lm.model, config: c).run(domains, onProgress: { progress, fork in
                try checkpoints.save(SavedRun(progress: progress, correct: [], seconds: 1), .ungated, strategy, seed: 0)
                if let fork { try checkpoints.save(SavedRun(progress: fork, correct: [], seconds: 0), .fork, strategy, seed: 0) }
                if progress.next == 2 { throw Interrupted() }
            })
        }
        #expect(try RunCheckpoints(directory: dir, key: "other").load(.ungated, strategy, seed: 0, model: lm.model) == nil)
        let saved = try #require(try checkpoints.load(.ungated, strategy, seed: 0, model: lm.model))
        #expect(saved.progress.next == 2)
        let fork = try checkpoints.load(.fork, strategy, seed: 0, model: lm.model)
        // The fork is saved once found: when the first rollback came before the stop.
        #expect((fork != nil) == (whole.gatedFork.map { $0.next <= 2 } ?? false))
        if strategy == .naive { #expect(fork != nil) }
        var seen: [Int] = []
        let resumed = try ContinualRun(model: lm.model, config: c).run(
            domains, from: saved.progress, fork: fork?.progress, onDomain: { k, _ in seen.append(k) })
        #expect(seen == [2])
        #expect(resumed.matrix == whole.matrix)
        #expect(resumed.perRow == whole.perRow)
        #expect(resumed.decisions == whole.decisions)
        #expect(parameters(resumed.state) == parameters(whole.state))
        #expect(resumed.state.fisher.fisher == whole.state.fisher.fisher)
        #expect(resumed.gatedFork?.ledger == whole.gatedFork?.ledger)
        if let a = resumed.gatedFork, let b = whole.gatedFork { #expect(parameters(a.state) == parameters(b.state)) }
    }

    /// The benchmark stopped after a strategy's ungated run was saved in results.json: started again with
    /// those results, it keeps them, runs the gated run from the saved fork, and reports what one
    /// uninterrupted benchmark reports; the saved progress is removed once both runs are in.
    @Test func aStoppedBenchmarkKeepsItsFinishedRunsAndStartsTheGatedRunFromTheSavedFork() throws {
        let lm = try TinyModels.load("llama-f32")
        let root = NSTemporaryDirectory() + "crma-resume-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let names = ["first", "second", "third"]
        for (offset, name) in names.enumerated() {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            func rows(_ r: Range<Int>) -> String {
                // The same questions in every domain, each domain with its own answer: learning the next
                // one overwrites the last, so naive forgets whatever the rounding of its kernels.
                r.map { i in
                    let a = ["yes", "no", "maybe"][offset]
                    return #"{"prompt": "Item \#(i)?\n", "completion": "Answer: \#(a).", "answer": "\#(a)"}"#
                }.joined(separator: "\n") + "\n"
            }
            try rows(0..<24).write(toFile: "\(root)/\(name)/train.jsonl", atomically: true, encoding: .utf8)
            try rows(24..<30).write(toFile: "\(root)/\(name)/holdout.jsonl", atomically: true, encoding: .utf8)
        }
        var s = ForgettingBenchmark.Settings()
        s.strategies = [.naive]
        s.seeds = [0]
        s.seqLen = 32
        s.gated = true
        s.config = TinyDomains.config(.naive)
        s.config.optimizer.learningRates = [.proj: 1e-1, .structural: 5e-3, .gate: 1e-2]
        let plain = ForgettingBenchmark(lm: lm, settings: s)
        let domains = try plain.loadDomains(root, names: names)
        let answers = try plain.loadAnswers(root, names: names)
        let (whole, _) = try plain.run(domains: domains, general: GeneralSuite(), answers: answers)
        try #require(whole.count == 2 && whole[0].decisions?.contains { $0.outcome == "rolled_back" } == true)

        s.checkpointDirectory = "\(root)/checkpoints"
        s.checkpointKey = "test"
        let saving = ForgettingBenchmark(lm: lm, settings: s)
        var kept: [StrategyResult] = []
        #expect(throws: Interrupted.self) {
            _ = try saving.run(domains: domains, general: GeneralSuite(), answers: answers, onRun: { results, _ in
                kept = results
                throw Interrupted()
            })
        }
        #expect(kept.map(\.strategy) == ["naive"])
        #expect(FileManager.default.fileExists(atPath: "\(root)/checkpoints/naive-0/fork.json"))
        var lines: [String] = []
        let (again, _) = try saving.run(
            domains: domains, general: GeneralSuite(), answers: answers, finished: kept, log: { lines.append($0) })
        #expect(lines.contains { $0.contains("starts after the ungated run's first rollback") })
        #expect(again.map(\.strategy) == whole.map(\.strategy))
        for (a, b) in zip(again, whole) {
            #expect(a.matrix == b.matrix && a.decisions == b.decisions && a.accuracy == b.accuracy)
        }
        #expect(!FileManager.default.fileExists(atPath: "\(root)/checkpoints"))
    }
}
