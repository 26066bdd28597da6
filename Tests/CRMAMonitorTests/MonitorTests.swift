import CRMAWire
import Testing
@testable import CRMAMonitor

@Suite struct ForgettingMetricsTests {
    /// Three domains; losses chosen so every metric has a hand-computable value.
    var matrix: LossMatrix {
        var m = LossMatrix()
        m.append(domain: "medical", losses: [2.0])
        m.append(domain: "legal", losses: [2.2, 1.5])
        m.append(domain: "code", losses: [2.1, 1.8, 1.0])
        return m
    }

    @Test func driftDefinitions() {
        let m = matrix
        #expect(abs(ForgettingMetrics.driftVsLearnTime(m, k: 2, j: 0) - 5) < 1e-12)  // 2.1 vs 2.0
        #expect(abs(ForgettingMetrics.driftVsLearnTime(m, k: 2, j: 1) - 20) < 1e-12)  // 1.8 vs 1.5
        #expect(abs(ForgettingMetrics.averageDrift(m, k: 2)! - 12.5) < 1e-12)
        #expect(abs(ForgettingMetrics.backwardTransfer(m, k: 2)! + 12.5) < 1e-12)
        #expect(ForgettingMetrics.averageDrift(m, k: 0) == nil)
        // Chaudhry: L[2][0] − min(L[0][0], L[1][0]) = 2.1 − 2.0
        #expect(abs(ForgettingMetrics.chaudhryForgetting(m, k: 2, j: 0) - 0.1) < 1e-12)
    }

    @Test func advantageIsPositiveWhenCRMAsEarlierDomainsScoreBetter() {
        var frozen = LossMatrix(), crma = LossMatrix()
        frozen.append(domain: "a", losses: [2.0]); crma.append(domain: "a", losses: [2.0])
        frozen.append(domain: "b", losses: [2.0, 1.0]); crma.append(domain: "b", losses: [1.9, 1.0])
        #expect(abs(ForgettingMetrics.advantage(frozen: frozen, crma: crma)! - 5) < 1e-12)
        // Learned equally well: none of the advantage is learning.
        #expect(ForgettingMetrics.learnTimeAdvantage(frozen: frozen, crma: crma) == 0)
    }

    /// crma learned a 20% better than frozen, then drifted 12.5% (1.6 → 1.8): half the lead is left.
    @Test func learnTimeAdvantageComparesEachDomainRightAfterItWasLearned() {
        var frozen = LossMatrix(), crma = LossMatrix()
        frozen.append(domain: "a", losses: [2.0]); crma.append(domain: "a", losses: [1.6])
        frozen.append(domain: "b", losses: [2.0, 1.0]); crma.append(domain: "b", losses: [1.8, 1.0])
        #expect(abs(ForgettingMetrics.learnTimeAdvantage(frozen: frozen, crma: crma)! - 20) < 1e-12)
        #expect(abs(ForgettingMetrics.advantage(frozen: frozen, crma: crma)! - 10) < 1e-12)
    }

    @Test func bootstrapIntervalContainsThePointEstimateAndIsSeeded() {
        let ref = (0..<40).map { DocumentLoss(sumNLL: Double(100 + $0 % 7), tokens: 50) }
        let after = ref.enumerated().map {
            DocumentLoss(sumNLL: $1.sumNLL * (1.03 + Double($0 % 5) * 0.01), tokens: 50)
        }
        let point = 100 * (after.map(\.sumNLL).reduce(0, +) / ref.map(\.sumNLL).reduce(0, +) - 1)
        let ci = Bootstrap.driftInterval(reference: ref, after: after, seed: 1)
        #expect(ci.low <= point && point <= ci.high)
        #expect(ci.high - ci.low < 2)
        #expect(ci == Bootstrap.driftInterval(reference: ref, after: after, seed: 1))
    }
}

@Suite struct ForgettingGateTests {
    let thresholds = GateThresholds(warn: 5, critical: 10)

    func domain(_ drift: Double) -> MonitoredMetric {
        MonitoredMetric(name: "medical", kind: .domain, value: 2 * (1 + drift / 100), reference: 2)
    }

    @Test func acceptsSmallDriftAndWarnsAboveWarn() {
        let ok = ForgettingGate.decide(
            metrics: [domain(1)], newDomainLoss: 1, newDomainBaseLoss: 2, thresholds: thresholds)
        #expect(ok == GateDecision(action: .accept, reasons: []))
        let warn = ForgettingGate.decide(
            metrics: [domain(7)], newDomainLoss: 1, newDomainBaseLoss: 2, thresholds: thresholds)
        #expect(warn.action == .accept)
        #expect(warn.reasons.map(\.severity) == [.warning])
    }

    /// A NaN compares false with every threshold: without its own check it would pass as "no drift".
    @Test(arguments: [Double.nan, .infinity])
    func aNonFiniteValueRollsBackWithItsOwnReason(_ bad: Double) {
        let metric = MonitoredMetric(name: "holdout:medical", kind: .domain, value: bad, reference: 2)
        let d = ForgettingGate.decide(metrics: [metric], newDomainLoss: 1, newDomainBaseLoss: 2, thresholds: thresholds)
        #expect(d.action == .rollback && d.reasons.map(\.severity) == [.nonFinite])
        let newLoss = ForgettingGate.decide(
            metrics: [domain(0)], newDomainLoss: bad, newDomainBaseLoss: 2, thresholds: thresholds)
        #expect(newLoss.action == .rollback && newLoss.reasons.map(\.severity) == [.nonFinite])
        #expect(GateReason.Severity.nonFinite.rawValue == "non_finite")
    }

    /// Accuracy and KL are judged on their absolute change in their own units: a 12-point accuracy drop
    /// from 40% rolls back (a relative threshold would need 30%), a KL of 0.2 nats warns (its base is 0).
    @Test func metricsWithAbsoluteThresholdsAreJudgedInTheirOwnUnits() {
        let points = GateThresholds(warn: 5, critical: 10)
        let acc = MonitoredMetric(
            name: "general:piqa_acc", kind: .benchmark, value: 28, reference: 40, lowerIsBetter: false,
            absoluteThresholds: points)
        let d = ForgettingGate.decide(metrics: [acc], newDomainLoss: 1, newDomainBaseLoss: 2, thresholds: thresholds)
        #expect(d.action == .rollback && d.reasons.first?.degradationPercent == 12 && d.reasons.first?.thresholdPercent == 10)
        let kl = MonitoredMetric(
            name: "general:probe_kl_base_current", kind: .benchmark, value: 0.2, reference: 0,
            absoluteThresholds: GateThresholds(warn: 0.1, critical: 0.5))
        let k = ForgettingGate.decide(metrics: [kl], newDomainLoss: 1, newDomainBaseLoss: 2, thresholds: thresholds)
        #expect(k.action == .accept && k.reasons.map(\.severity) == [.warning])
    }

    @Test func boundariesAreExclusive() {
        // Exactly at a threshold is not above it (values chosen to be exact in binary).
        let atWarn = MonitoredMetric(name: "m", kind: .domain, value: 1.0625, reference: 1)  // +6.25%
        let gate = GateThresholds(warn: 6.25, critical: 12.5)
        #expect(
            ForgettingGate.decide(metrics: [atWarn], newDomainLoss: 0, newDomainBaseLoss: 1, thresholds: gate).reasons
                .isEmpty)
        let atCritical = MonitoredMetric(name: "m", kind: .domain, value: 1.125, reference: 1)  // +12.5%
        let d = ForgettingGate.decide(metrics: [atCritical], newDomainLoss: 0, newDomainBaseLoss: 1, thresholds: gate)
        #expect(d.action == .accept && d.reasons.map(\.severity) == [.warning])
        let above = MonitoredMetric(name: "m", kind: .domain, value: 1.125 + 1e-9, reference: 1)
        #expect(
            ForgettingGate.decide(metrics: [above], newDomainLoss: 0, newDomainBaseLoss: 1, thresholds: gate).action
                == .rollback)
    }

    @Test func rollsBackOnACriticalBreachWithTheReasonAsData() {
        let acc = MonitoredMetric(
            name: "arc_easy acc", kind: .benchmark, value: 0.40, reference: 0.50, lowerIsBetter: false)
        let d = ForgettingGate.decide(
            metrics: [domain(3), acc], newDomainLoss: 1, newDomainBaseLoss: 2, thresholds: thresholds)
        #expect(d.action == .rollback)
        let r = try! #require(d.reasons.first)
        #expect(r.severity == .critical && r.metric == "arc_easy acc")
        #expect(abs(r.degradationPercent - 20) < 1e-9 && r.thresholdPercent == 10)
    }

    @Test func anUpdateThatDidNotLearnIsRolledBack() {
        let d = ForgettingGate.decide(metrics: [], newDomainLoss: 2.1, newDomainBaseLoss: 2.0, thresholds: thresholds)
        #expect(d.action == .rollback)
        #expect(d.reasons.map(\.severity) == [.notLearned])
        #expect(
            ForgettingGate.decide(metrics: [], newDomainLoss: 2.0, newDomainBaseLoss: 2.0, thresholds: thresholds)
                .action == .rollback)
    }
}
