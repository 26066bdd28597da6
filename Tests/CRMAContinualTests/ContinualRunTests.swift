import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMANumerics
import CRMATestSupport
import CRMATraining
import Foundation
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

    @Test(arguments: [Strategy.naive, .crma, .crmaIdentity, .replay, .ewc, .lwf, .olora])
    func everyStrategyFillsTheMatrixAndLearns(_ s: Strategy) throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let r = try ContinualRun(model: lm.model, config: TinyDomains.config(s)).run(domains)
        #expect(r.matrix.domains == domains.map(\.name))
        #expect(r.matrix.rows.flatMap { $0 }.allSatisfy { $0.isFinite })
        #expect(r.matrix[2, 2] < r.baseLosses[2])
        #expect(r.perRow[2][0].count == domains[0].holdout.count)
        #expect(ForgettingMetrics.averageDrift(r.matrix, k: 2) != nil)
    }

    @Test func strategiesUseTheAdaptersCRMAmdSpecifies() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let crma = ContinualLearner(model: lm.model, config: TinyDomains.config(.crma))
        let identity = ContinualLearner(model: lm.model, config: TinyDomains.config(.crmaIdentity))
        #expect(crma.crma?.config.mixing == .sinkhorn)
        #expect(identity.crma?.config.mixing == .identity)
        try crma.learn(domains[0])
        try crma.learn(domains[1])
        // Domain 0 is scored with its own (frozen) LoRA and the current substrate.
        let a = crma.adapters(evaluating: "animals")
        #expect(a.loras.map(\.name) == ["animals"] && a.crma != nil)
        #expect(crma.substrate().loras.isEmpty)
        #expect(a.trainableParameters.isEmpty == false)  // CRMA keeps training across domains
        #expect(crma.loras["animals"]?.trainable == false)
        let naive = ContinualLearner(model: lm.model, config: TinyDomains.config(.naive))
        try naive.learn(domains[0])
        #expect(naive.adapters(evaluating: "animals").loras.map(\.name) == ["shared"])
        #expect(naive.substrate().loras.map(\.name) == ["shared"] && naive.crma == nil)
    }
}

@Suite struct ElasticWeightConsolidationTests {
    @Test func penaltyIsZeroAtTheAnchorAndItsGradientMatchesFiniteDifferences() throws {
        let lm = try TinyModels.load("llama-f32")
        let lora = LoRA(name: "s", config: LoRAConfig(rank: 2, targets: [.q]), model: lm.model.config, seed: 1)
        for p in lora.parameters { for i in 0..<p.count { p.value[i] += 0.05 * Float(i % 7) } }
        let pass = LlamaTrainingPass(model: lm.model, hooks: AdapterSet(loras: [lora]))
        let domain = TinyDomains.make(lm)[0]
        let ewc = ElasticWeightConsolidation(lambda: 10, onlineGamma: nil)
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
    func learner(_ lm: LanguageModel, critical: Double) -> ContinualLearner {
        var c = TinyDomains.config(.naive)
        c.optimizer.learningRates = [.proj: 1e-1, .structural: 5e-3, .gate: 1e-2]
        c.stepsPerDomain = 20
        c.stabilityCheck = StabilityCheck(interval: 2, sliceRows: 2, criticalPercent: critical)
        return ContinualLearner(model: lm.model, config: c)
    }

    @Test func anUpdateThatForgetsIsStoppedEarlyAndReported() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let l = learner(lm, critical: 1)
        try l.learn(domains[0])
        let reports = try l.learn(domains[1])
        let stop = try #require(l.stabilityStops["numbers"])
        #expect(stop.domain == "animals" && stop.driftPercent > 1)
        #expect(reports.count == stop.step && stop.step < 20)
    }

    @Test func aGenerousThresholdLetsTheUpdateFinish() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let l = learner(lm, critical: 1e9)
        try l.learn(domains[0])
        #expect(try l.learn(domains[1]).count == 20)
        #expect(l.stabilityStops.isEmpty)
    }
}
