import CRMAWire

/// One monitored quantity after an update, with the reference it is judged against.
public struct MonitoredMetric: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// An earlier domain's holdout loss (reference: its loss when it was learned).
        case domain
        /// A general baseline benchmark (reference: the base model).
        case benchmark
    }

    public var name: MetricID
    public var kind: Kind
    public var value: Double
    public var reference: Double
    /// True for losses, bits per byte and KL; false for accuracy and agreement.
    public var lowerIsBetter: Bool
    /// Thresholds of this metric in its own units (accuracy points, nats), judged on the absolute change;
    /// nil: judged on the relative change in percent against the gate's thresholds. A reference of 0
    /// (KL to the base model) or a small share (accuracy on a hundred items) has no useful relative change.
    public var absoluteThresholds: GateThresholds?

    public init(
        name: MetricID, kind: Kind, value: Double, reference: Double, lowerIsBetter: Bool = true,
        absoluteThresholds: GateThresholds? = nil
    ) {
        self.name = name
        self.kind = kind
        self.value = value
        self.reference = reference
        self.lowerIsBetter = lowerIsBetter
        self.absoluteThresholds = absoluteThresholds
    }

    /// The degradation the gate judges (positive = worse): in percent of the reference, or in the
    /// metric's own units when it has absolute thresholds.
    public var degradationPercent: Double {
        let change = absoluteThresholds == nil ? 100 * (value - reference) / abs(reference) : value - reference
        return lowerIsBetter ? change : -change
    }
}

/// Warn and critical thresholds, in percent of degradation or, for a metric judged in its own units, in
/// those (`unit`: "%", " points", " nats"; how reasons print them).
public struct GateThresholds: Sendable, Equatable, Codable {
    public var warn: Double
    public var critical: Double
    public var unit: String

    public init(warn: Double = 5, critical: Double = 10, unit: String = "%") {
        precondition(warn <= critical)
        self.warn = warn
        self.critical = critical
        self.unit = unit
    }

    enum CodingKeys: String, CodingKey { case warn, critical, unit }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        warn = try c.decode(Double.self, forKey: .warn)
        critical = try c.decode(Double.self, forKey: .critical)
        unit = try c.decodeIfPresent(String.self, forKey: .unit) ?? "%"
    }
}

/// Why the gate flagged something: which metric, its value and reference, the threshold it crossed.
///
/// `degradationPercent` and `thresholdPercent` are percent, or the metric's own units for a metric with
/// absolute thresholds (accuracy points, KL nats).
public struct GateReason: Sendable, Equatable, Codable {
    public typealias Severity = GateSeverity
    /// The gate itself gives every severity but ``GateSeverity/stale`` (the registry's, at promotion).
    public var severity: Severity
    public var metric: MetricID
    public var value: Double
    public var reference: Double
    public var degradationPercent: Double
    public var thresholdPercent: Double
    /// The unit of the degradation and the threshold ("%" unless the metric is judged in its own units).
    public var unit: String = "%"

    public init(
        severity: Severity, metric: MetricID, value: Double, reference: Double, degradationPercent: Double,
        thresholdPercent: Double, unit: String = "%"
    ) {
        self.severity = severity
        self.metric = metric
        self.value = value
        self.reference = reference
        self.degradationPercent = degradationPercent
        self.thresholdPercent = thresholdPercent
        self.unit = unit
    }

    enum CodingKeys: String, CodingKey {
        case severity, metric, value, reference, degradationPercent, thresholdPercent, unit
    }

    /// Reasons saved before units were recorded read as percent.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        severity = try c.decode(Severity.self, forKey: .severity)
        metric = try c.decode(MetricID.self, forKey: .metric)
        value = try c.decode(Double.self, forKey: .value)
        reference = try c.decode(Double.self, forKey: .reference)
        degradationPercent = try c.decode(Double.self, forKey: .degradationPercent)
        thresholdPercent = try c.decode(Double.self, forKey: .thresholdPercent)
        unit = try c.decodeIfPresent(String.self, forKey: .unit) ?? "%"
    }
}

/// The gate's verdict on an update.
public struct GateDecision: Sendable, Equatable, Codable {
    public enum Action: String, Sendable, Codable { case accept, rollback }
    public var action: Action
    /// Every warning and breach, most severe first.
    public var reasons: [GateReason]
}

/// The forgetting gate as a pure function (no I/O): an update is rolled back when any monitored metric
/// degrades by more than `critical` percent, when the new domain did not learn (its holdout loss is
/// not below the base model's), or when any value it judges is not finite (reason `non_finite`: a NaN
/// compares false with every threshold and would otherwise pass). Degradations above `warn` are
/// reported but accepted. Exactly at a threshold is not above it.
public enum ForgettingGate {
    public static func decide(
        metrics: [MonitoredMetric], newDomainLoss: Double, newDomainBaseLoss: Double, thresholds: GateThresholds
    ) -> GateDecision {
        var reasons: [GateReason] = []
        for m in metrics {
            let d = m.degradationPercent
            let thresholds = m.absoluteThresholds ?? thresholds
            if !m.value.isFinite || !m.reference.isFinite || !d.isFinite {
                reasons.append(
                    GateReason(
                        severity: .nonFinite, metric: m.name, value: m.value, reference: m.reference,
                        degradationPercent: d, thresholdPercent: thresholds.critical, unit: thresholds.unit))
            } else if d > thresholds.critical {
                reasons.append(
                    GateReason(
                        severity: .critical, metric: m.name, value: m.value, reference: m.reference,
                        degradationPercent: d, thresholdPercent: thresholds.critical, unit: thresholds.unit))
            } else if d > thresholds.warn {
                reasons.append(
                    GateReason(
                        severity: .warning, metric: m.name, value: m.value, reference: m.reference,
                        degradationPercent: d, thresholdPercent: thresholds.warn, unit: thresholds.unit))
            }
        }
        if !newDomainLoss.isFinite || !newDomainBaseLoss.isFinite {
            reasons.append(
                GateReason(
                    severity: .nonFinite, metric: .newDomainHoldout, value: newDomainLoss,
                    reference: newDomainBaseLoss, degradationPercent: .nan, thresholdPercent: 0))
        } else if !(newDomainLoss < newDomainBaseLoss) {
            reasons.append(
                GateReason(
                    severity: .notLearned, metric: .newDomainHoldout, value: newDomainLoss,
                    reference: newDomainBaseLoss,
                    degradationPercent: 100 * (newDomainLoss - newDomainBaseLoss) / newDomainBaseLoss,
                    thresholdPercent: 0))
        }
        let order: [GateReason.Severity: Int] = [.nonFinite: 0, .critical: 1, .stale: 1, .notLearned: 2, .warning: 3]
        func key(_ r: GateReason) -> (Int, Double) {
            (order[r.severity]!, r.degradationPercent.isNaN ? -.infinity : -r.degradationPercent)
        }
        reasons.sort { key($0) < key($1) }
        let rollback = reasons.contains { $0.severity.blocksPromotion }
        return GateDecision(action: rollback ? .rollback : .accept, reasons: reasons)
    }
}

extension GateReasonRecord {
    /// The gate's reason as the registry stores it.
    public init(_ r: GateReason) {
        self.init(
            severity: r.severity, metric: r.metric, value: r.value, reference: r.reference,
            degradationPercent: r.degradationPercent, thresholdPercent: r.thresholdPercent,
            unit: r.unit == "%" ? nil : r.unit)
    }
}
