import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMATestSupport
import CRMATraining
import Foundation
import CRMAWire
import Testing
@testable import CRMABenchmark
@testable import CRMADaemon

/// `crma-bench forgetting --gated` says it gates "as crmad does": both build their general check from the
/// same settings type and defaults, so the same candidate gets the same metrics and the same decision.
@Suite struct GateEquivalenceTests {
    /// A general suite on disk: bits-per-byte texts and probes, and each multiple-choice task.
    func writeBenchmarks(_ dir: TempDirectory) {
        func jsonl(_ rows: [[String: Any]]) -> String {
            rows.map { String(decoding: try! JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
                .joined(separator: "\n") + "\n"
        }
        dir.drop(
            "general.jsonl",
            jsonl((0..<12).map { ["text": "General text number \($0), with a handful of ordinary words in it."] }))
        for task in GeneralGateSettings.tasks {
            dir.drop(
                "\(task).jsonl",
                jsonl(
                    (0..<6).map {
                        ["id": "\(task)-\($0)", "context": "The \(["cat", "dog", "owl"][$0 % 3]) sat on the",
                         "choices": [" mat.", " moon.", " idea."], "gold": $0 % 3]
                    }))
        }
    }

    @Test func theBenchmarkJudgesACandidateAsCrmadDoes() throws {
        let lm = try TinyModels.load("llama-f32")
        let dir = TempDirectory("gate-equivalence")
        writeBenchmarks(dir)
        var config = DaemonConfig()
        config.monitor.benchmarks = dir.path
        // crmad's side: the suite it writes into a job directory, measured as its worker measures, judged
        // with crmad's limits.
        let baseline = try GeneralBaseline(config: config)
        let daemonCheck = try #require(
            UpdateWorker.generalCheck(baseline.suite, lm: lm, context: config.training.sequenceLength, base: nil))

        let bench = ForgettingBenchmark(lm: lm, settings: ForgettingBenchmark.Settings())
        let suite = try bench.loadGeneral(dir.path)
        let base = bench.generalScores(nil, suite)
        let benchCheck = try #require(bench.gateCheck(suite, base: base))
        #expect(benchCheck.base == daemonCheck.base && benchCheck.limits == baseline.settings.limits)
        #expect(benchCheck.context == daemonCheck.context)

        // A naive update at a high learning rate moves the general scores.
        let et = ExampleTokenizer(tokenizer: lm.tokenizer)
        let rows = SequencePacker(seqLen: 32, padToken: 0).pack(
            (0..<24).map { et.tokenize(.text("\($0 * 7) plus \($0 * 3) equals \($0 * 10).")) })
        let job = DomainUpdate.Job(domain: DomainData(name: "numbers", train: rows, holdout: Array(rows.prefix(2))), seed: 3)
        var daemonConfig = config.continualConfig(strategy: .naive)
        daemonConfig.stepsPerDomain = 8
        daemonConfig.batchRows = 2
        daemonConfig.optimizer.learningRates[.proj] = 1e-1
        var benchConfig = bench.settings.config
        benchConfig.strategy = .naive
        #expect(benchConfig.gate == daemonConfig.gate)
        let update = DomainUpdate(model: lm.model, config: daemonConfig)
        guard case .trained(let candidate) = try update.train(job, parent: .empty) else {
            Issue.record("the update stopped")
            return
        }
        let byDaemon = update.judge(
            update.measure(candidate.state, job: job, general: daemonCheck), job: job,
            generalLimits: baseline.settings.limits)
        let byBenchmark = update.evaluate(candidate.state, job: job, general: benchCheck)
        #expect(byBenchmark.metrics == byDaemon.metrics)
        #expect(byBenchmark.decision == byDaemon.decision)
        // Not bits per byte alone: accuracy and KL are judged too.
        let judged = Set(byBenchmark.metrics.map(\.name))
        #expect(judged.contains("general:general_bits_per_byte"))
        #expect(judged.contains("general:probe_kl_base_current"))
        #expect(GeneralGateSettings.tasks.allSatisfy { judged.contains(.general(score: "\($0)_acc")) })
    }
}
