import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMANumerics
import CRMATestSupport
import CRMATraining
import Foundation
import CRMAWire
@testable import CRMABenchmark
import Testing
@testable import CRMAContinual

/// Three small synthetic domains on the tiny model, each a family of templated sentences.
enum TinyDomains {
    static func make(_ lm: LanguageModel) -> [DomainData] {
        let families: [(String, (Int) -> String)] = [
            (
                "animals",
                {
                    "The \(["cat", "dog", "fox", "owl"][$0 % 4]) sleeps under the \(["tree", "bridge", "table"][$0 % 3]) at night."
                }
            ),
            ("numbers", { "\($0 * 7) plus \($0 * 3) equals \($0 * 10); \($0) times two is \($0 * 2)." }),
            ("code", { "def f\($0)(x):\n    return x * \($0 % 9) + \($0 % 5)\n" }),
        ]
        let packer = SequencePacker(seqLen: 32, padToken: 0)
        let et = ExampleTokenizer(tokenizer: lm.tokenizer)
        return families.map { name, gen in
            let docs = (0..<40).map { gen($0) }
            let (train, hold) = HoldoutSplit(fraction: 0.2, minimum: 4).split(docs)
            return DomainData(
                name: name, train: packer.pack(train.map { et.tokenize(.text(docs[$0])) }),
                holdout: packer.pack(hold.map { et.tokenize(.text(docs[$0])) }))
        }
    }

    static func config(_ s: Strategy) -> ContinualConfig {
        var c = ContinualConfig()
        c.strategy = s
        c.stepsPerDomain = 12
        c.batchRows = 2
        c.lora = LoRAConfig(rank: 4, alpha: 8, targets: [.q, .v, .o, .down])
        c.optimizer.learningRates = [.proj: 2e-2, .structural: 5e-3, .gate: 2e-2]
        c.fisherBatches = 2
        return c
    }
}

@Suite struct ContinualRunTests {
    @Test func frozenNeverChangesAnEarlierDomainsLoss() throws {
        let lm = try TinyModels.load("llama-f32")
        let r = try ContinualRun(model: lm.model, config: TinyDomains.config(.frozen)).run(TinyDomains.make(lm))
        let m = r.matrix
        #expect(m.updates == 3)
        for k in 0..<3 { for j in 0...k { #expect(m[k, j] == m[j, j]) } }
        // Each domain learned: its loss right after learning is below the base model's.
        for j in 0..<3 { #expect(m[j, j] < r.baseLosses[j]) }
    }

    /// On Llama and on both Qwen families (q/k/v biases; QK-norm with head_dim ≠ hidden / heads).
    @Test(arguments: ["llama-f32", "qwen2-f32", "qwen3-bf16"], [Strategy.naive, .crma, .crmaIdentity, .replay, .ewc, .lwf, .olora])
    func everyStrategyFillsTheMatrixAndLearns(_ model: String, _ s: Strategy) throws {
        let lm = try TinyModels.load(model)
        let domains = TinyDomains.make(lm)
        let r = try ContinualRun(model: lm.model, config: TinyDomains.config(s)).run(domains)
        #expect(r.matrix.domains == domains.map(\.name))
        #expect(r.matrix.rows.flatMap { $0 }.allSatisfy { $0.isFinite })
        #expect(r.matrix[2, 2] < r.baseLosses[2])
        #expect(r.perRow[2][0].count == domains[0].holdout.count)
        let drifts = (0..<2).map { 100 * (r.matrix[2, $0] - r.matrix[$0, $0]) / r.matrix[$0, $0] }
        #expect(abs(ForgettingMetrics.averageDrift(r.matrix, k: 2)! - (drifts[0] + drifts[1]) / 2) < 1e-9)
        #expect(r.decisions.count == 3 && r.decisions.allSatisfy { $0.domain != "" })
    }

    @Test func strategiesUseTheAdaptersCRMAmdSpecifies() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = Array(TinyDomains.make(lm).prefix(2))
        let crma = try ContinualRun(model: lm.model, config: TinyDomains.config(.crma)).run(domains).state
        let identity = try ContinualRun(model: lm.model, config: TinyDomains.config(.crmaIdentity)).run(domains).state
        #expect(crma.crma?.config.mixing == .sinkhorn)
        #expect(identity.crma?.config.mixing == .identity)
        // Domain 0 is scored with its own LoRA and the current substrate; nothing is left trainable.
        let a = crma.adapters(scoring: "animals", learnedWith: .crma)
        #expect(a.loras.map(\.name) == ["animals"] && a.crma != nil)
        #expect(crma.substrate(for: .crma).loras.isEmpty)
        #expect(a.trainableParameters.isEmpty && crma.loras.values.allSatisfy { !$0.trainable })
        // CRMA keeps training across domains: the substrate after two domains differs from after one.
        let one = try ContinualRun(model: lm.model, config: TinyDomains.config(.crma)).run([domains[0]]).state
        #expect(one.crma!.write[0].value.array != crma.crma!.write[0].value.array)
        let naive = try ContinualRun(model: lm.model, config: TinyDomains.config(.naive)).run([domains[0]]).state
        #expect(naive.adapters(scoring: "animals", learnedWith: .naive).loras.map(\.name) == ["shared"])
        #expect(naive.substrate(for: .naive).loras.map(\.name) == ["shared"] && naive.crma == nil)
    }
}

@Suite struct ElasticWeightConsolidationTests {
    @Test func penaltyIsZeroAtTheAnchorAndItsGradientMatchesFiniteDifferences() throws {
        let lm = try TinyModels.load("llama-f32")
        let lora = LoRA(name: "s", config: LoRAConfig(rank: 2, targets: [.q]), model: lm.model.config, seed: 1)
        for p in lora.parameters { for i in 0..<p.count { p.value[i] += 0.05 * Float(i % 7) } }
        let pass = LlamaTrainingPass(model: lm.model, hooks: AdapterSet(loras: [lora]))
        let domain = TinyDomains.make(lm)[0]
        var ewc = ElasticWeightConsolidation(lambda: 10, onlineGamma: nil)
        ewc.consolidate(
            params: lora.parameters, pass: pass, batches: [SequencePacker.batch(Array(domain.train.prefix(2)))])
        #expect(ewc.apply(lora.parameters) == 0)
        let p = lora.parameters[0]
        let i = (0..<p.count).max { ewc.fisher[p.name]![$0] < ewc.fisher[p.name]![$1] }!
        p.value[i] += 0.1
        p.zeroGrad()
        let penalty = ewc.apply(lora.parameters)
        #expect(penalty > 0)
        let expected = 0.5 * 10 * Double(ewc.fisher[p.name]![i]) * 0.01
        #expect(abs(penalty - expected) < 1e-6 * max(1, expected))
        #expect(abs(Double(p.grad[i]) - 10 * Double(ewc.fisher[p.name]![i]) * 0.1) < 1e-5)
    }
}

@Suite struct StabilityCheckTests {
    func run(_ lm: LanguageModel, critical: Double) throws -> ContinualRun.Result {
        var c = TinyDomains.config(.naive)
        c.optimizer.learningRates = [.proj: 1e-1, .structural: 5e-3, .gate: 1e-2]
        c.stepsPerDomain = 20
        c.stabilityCheck = StabilityCheck(interval: 2, sliceRows: 2, criticalPercent: critical)
        return try ContinualRun(model: lm.model, config: c).run(Array(TinyDomains.make(lm).prefix(2)))
    }

    @Test func anUpdateThatForgetsIsStoppedEarlyAndReported() throws {
        let lm = try TinyModels.load("llama-f32")
        let r = try run(lm, critical: 1)
        let stop = try #require(r.decisions[1].stabilityStop)
        #expect(stop.domain == "animals" && stop.driftPercent > 1)
        #expect(r.decisions[1].steps == stop.step && stop.step < 20)
    }

    @Test func aGenerousThresholdLetsTheUpdateFinish() throws {
        let lm = try TinyModels.load("llama-f32")
        let r = try run(lm, critical: 1e9)
        #expect(r.decisions[1].steps == 20 && r.decisions[1].stabilityStop == nil)
    }

    /// A slice is judged against its own loss before the update, never against the whole holdout's: a
    /// slice whose rows are harder than the holdout's mean does not look like forgetting.
    @Test func eachSliceIsComparedWithItsOwnLossBeforeTheUpdate() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        var c = TinyDomains.config(.frozen)
        c.stabilityCheck = StabilityCheck(interval: 2, sliceRows: 1, criticalPercent: 0.001)
        let update = DomainUpdate(model: lm.model, config: c)
        let first = DomainUpdate.Job(domain: domains[0], seed: 1)
        guard case .trained(let a) = try update.train(first, parent: .empty) else { Issue.record("stopped"); return }
        // The reference of the whole holdout is far below its first row's loss (a different mean).
        let learned = LearnedDomain(name: "animals", strategy: .frozen, holdout: domains[0].holdout, reference: 1e-6)
        let second = DomainUpdate.Job(domain: domains[1], earlier: [learned], seed: 2)
        guard case .trained(let b) = try update.train(second, parent: a.state) else { Issue.record("stopped"); return }
        // frozen never changes animals' scores: no slice drifted, whatever its whole-holdout reference.
        #expect(b.stabilityStop == nil && b.steps == c.stepsPerDomain)
    }
}

/// The gate judges what it should: earlier domains with the adapters they were learned with, and a domain
/// learned again against its own previous loss.
@Suite struct GateSoundnessTests {
    func learn(_ update: DomainUpdate, _ job: DomainUpdate.Job, on parent: LearnedState) throws -> LearnedState {
        guard case .trained(let c) = try update.train(job, parent: parent) else { throw CancellationError() }
        return c.state
    }

    /// Before, the daemon scored every earlier domain with the current job's strategy: after a naive
    /// update, a frozen one scored the naive domain with a LoRA named after it (there is none), that is with
    /// the base model, and saw it "forget".
    @Test func anEarlierDomainIsScoredWithTheStrategyItWasLearnedWith() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let naive = DomainUpdate(model: lm.model, config: TinyDomains.config(.naive))
        let first = DomainUpdate.Job(domain: domains[0], seed: 1)
        let a = try learn(naive, first, on: .empty)
        let reference = naive.evaluate(a, job: first).newDomain.mean
        let frozen = DomainUpdate(model: lm.model, config: TinyDomains.config(.frozen))
        let learned = LearnedDomain(name: "animals", strategy: .naive, holdout: domains[0].holdout, reference: reference)
        let second = DomainUpdate.Job(domain: domains[1], earlier: [learned], seed: 2)
        let b = try learn(frozen, second, on: a)
        let e = frozen.evaluate(b, job: second)
        // frozen leaves the shared LoRA alone: animals scores exactly as when it was learned.
        #expect(e.earlier["animals"]?.mean == reference)
        #expect(!e.decision.reasons.contains { $0.metric == "holdout:animals" })
    }

    /// Before, a domain learned again was only compared with the base model; now it is also judged on the
    /// rows of its previous learning against its previous loss.
    @Test func aDomainLearnedAgainIsJudgedAgainstItsOwnPreviousLoss() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let update = DomainUpdate(model: lm.model, config: TinyDomains.config(.frozen))
        let first = DomainUpdate.Job(domain: domains[0], seed: 1)
        let a = try learn(update, first, on: .empty)
        let learned = LearnedDomain(
            name: "animals", strategy: .frozen, holdout: domains[0].holdout,
            reference: update.evaluate(a, job: first).newDomain.mean)
        // "animals" again, but with data of another kind: its fresh LoRA no longer fits the old rows.
        let other = DomainData(name: "animals", train: domains[2].train, holdout: domains[2].holdout)
        let again = DomainUpdate.Job(domain: other, earlier: [learned], seed: 2)
        let e = update.evaluate(try learn(update, again, on: a), job: again)
        #expect(e.previousRows != nil && e.earlier.isEmpty)
        #expect(e.decision.action == .rollback)
        #expect(e.decision.reasons.first?.metric == "holdout:animals:previous")
    }

    /// A domain learned again has no stability slice: its LoRA is replaced, so its rows drift at once
    /// (before, the check stopped such an update at its first interval and the gate rolled it back).
    @Test func theStabilityCheckDoesNotJudgeTheDomainBeingLearnedAgain() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        var c = TinyDomains.config(.frozen)
        c.stabilityCheck = StabilityCheck(interval: 2, sliceRows: 2, criticalPercent: 1)
        let update = DomainUpdate(model: lm.model, config: c)
        let first = DomainUpdate.Job(domain: domains[0], seed: 1)
        let a = try learn(update, first, on: .empty)
        let learned = LearnedDomain(
            name: "animals", strategy: .frozen, holdout: domains[0].holdout,
            reference: update.evaluate(a, job: first).newDomain.mean)
        let again = DomainUpdate.Job(domain: domains[0], earlier: [learned], seed: 2)
        guard case .trained(let b) = try update.train(again, parent: a) else { Issue.record("stopped"); return }
        #expect(b.stabilityStop == nil && b.steps == c.stepsPerDomain)
    }

    /// A candidate whose loss is NaN is rolled back with the reason non_finite, not accepted because NaN
    /// fails every comparison.
    @Test func aNonFiniteCandidateIsRolledBack() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let update = DomainUpdate(model: lm.model, config: TinyDomains.config(.frozen))
        let job = DomainUpdate.Job(domain: domains[0], seed: 1)
        let a = try learn(update, job, on: .empty)
        for p in a.loras["animals"]!.parameters { p.value[0] = .nan }
        let e = update.evaluate(a, job: job)
        #expect(e.decision.action == .rollback && e.decision.reasons.first?.severity == .nonFinite)
    }
}

@Suite struct GeneralSuiteGateTests {
    /// Every general score the suite computes is judged: bits per byte relatively, accuracy in points and
    /// KL in nats absolutely; agreement is reported only.
    @Test func everyGeneralScoreBecomesAMetricWithItsOwnScale() {
        let scores = [
            "general_bits_per_byte": 1.1, "piqa_acc": 0.55, "piqa_acc_norm": 0.6, "probe_kl_base_current": 0.02,
            "probe_top1_agreement": 0.9,
        ]
        let base = ["general_bits_per_byte": 1.0, "piqa_acc": 0.6, "piqa_acc_norm": 0.6]
        let m = Dictionary(
            uniqueKeysWithValues: GeneralSuite.metrics(scores, base: base, limits: GeneralLimits()).map { ($0.name, $0) })
        #expect(Set(m.keys) == [
            "general:general_bits_per_byte", "general:piqa_acc", "general:piqa_acc_norm", "general:probe_kl_base_current",
        ])
        #expect(m["general:general_bits_per_byte"]?.absoluteThresholds == nil)
        #expect(abs(m["general:piqa_acc"]!.degradationPercent - 5) < 1e-9)
        #expect(m["general:probe_kl_base_current"]?.degradationPercent == 0.02)
    }
}

/// A reason judged in its metric's own units says so: KL in nats, accuracy in points, not percent.
@Suite struct GateReasonUnitTests {
    @Test func klAndAccuracyReasonsNameTheirUnits() {
        let scores = ["probe_kl_base_current": 0.6, "piqa_acc": 0.7, "general_bits_per_byte": 1.2]
        let base = ["piqa_acc": 0.8, "general_bits_per_byte": 1.0]
        let d = ForgettingGate.decide(
            metrics: GeneralSuite.metrics(scores, base: base, limits: GeneralLimits()), newDomainLoss: 1,
            newDomainBaseLoss: 2, thresholds: GateThresholds())
        let sentences = Dictionary(uniqueKeysWithValues: d.reasons.map { ($0.metric, GateReasonRecord($0).sentence) })
        #expect(sentences[.general(score: "probe_kl_base_current")]?.contains("drifted +0.60 nats") == true)
        #expect(sentences[.general(score: "probe_kl_base_current")]?.contains("critical threshold 0.5 nats") == true)
        #expect(sentences[.general(score: "piqa_acc")]?.contains("drifted +10.00 points") == true)
        #expect(sentences[.general(score: "general_bits_per_byte")]?.contains("drifted +20.00%") == true)
    }
}

/// A gated run started from the ungated run's fork (after its first rollback) is the gated run from
/// the start: the same loss matrix, per-row losses, decisions and final state, without retraining the
/// updates up to the rollback.
@Suite struct GatedForkTests {
    @Test func aGatedRunFromTheForkEqualsAGatedRunFromTheStart() throws {
        let lm = try TinyModels.load("llama-f32")
        var c = TinyDomains.config(.naive)
        c.optimizer.learningRates = [.proj: 1e-1, .structural: 5e-3, .gate: 1e-2]
        let domains = TinyDomains.make(lm)
        let ungated = try ContinualRun(model: lm.model, config: c).run(domains)
        let fork = try #require(ungated.gatedFork, "the high learning rate makes naive forget")
        let rolledBack = fork.next - 1
        #expect(ungated.decisions[rolledBack].outcome == "rolled_back")
        #expect(ungated.decisions[..<rolledBack].allSatisfy { $0.outcome != "rolled_back" })
        let whole = try ContinualRun(model: lm.model, config: c, gated: true).run(domains)
        var seen: [Int] = []
        let resumed = try ContinualRun(model: lm.model, config: c, gated: true).run(
            domains, from: fork, onDomain: { k, _ in seen.append(k) })
        #expect(seen == Array(fork.next..<domains.count))
        #expect(resumed.matrix == whole.matrix)
        #expect(resumed.perRow.map { $0.map { $0.map(\.sumNLL) } } == whole.perRow.map { $0.map { $0.map(\.sumNLL) } })
        #expect(resumed.decisions == whole.decisions)
        #expect(resumed.gatedFork == nil && whole.gatedFork == nil)
        let a = resumed.state.loras.values.flatMap { $0.parameters.flatMap(\.value.array) }
        let b = whole.state.loras.values.flatMap { $0.parameters.flatMap(\.value.array) }
        #expect(a == b)
    }
}
