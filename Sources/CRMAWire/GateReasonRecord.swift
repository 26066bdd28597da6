import Foundation

/// A gate reason as stored: the schema is the registry's own (it outlives changes to CRMAMonitor's
/// `GateReason`), so it is a separate type; its severity may also be ``GateSeverity/stale`` (the parent
/// stopped being active), which only the promotion gives.
public struct GateReasonRecord: Sendable, Equatable, Codable {
    public var severity: GateSeverity
    public var metric: MetricID
    public var value: Double
    public var reference: Double
    public var degradationPercent: Double
    public var thresholdPercent: Double
    /// The unit of the degradation and the threshold when not percent (" points" of accuracy, " nats" of KL).
    public var unit: String?

    public init(
        severity: GateSeverity, metric: MetricID, value: Double, reference: Double, degradationPercent: Double,
        thresholdPercent: Double, unit: String? = nil
    ) {
        self.severity = severity
        self.metric = metric
        self.value = value
        self.reference = reference
        self.degradationPercent = degradationPercent
        self.thresholdPercent = thresholdPercent
        self.unit = unit
    }
}

extension GateReasonRecord {
    enum CodingKeys: String, CodingKey {
        case severity, metric, value, reference, degradationPercent, thresholdPercent, unit
    }

    enum WrittenKeys: String, CodingKey { case sentence }

    /// The fields, and ``sentence`` for readers that show the reason as it is (the dashboard). The registry
    /// stores this encoding too; decoding reads the fields and ignores the sentence, which is always
    /// written anew from them.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(severity, forKey: .severity)
        try c.encode(metric, forKey: .metric)
        try c.encode(value, forKey: .value)
        try c.encode(reference, forKey: .reference)
        try c.encode(degradationPercent, forKey: .degradationPercent)
        try c.encode(thresholdPercent, forKey: .thresholdPercent)
        try c.encodeIfPresent(unit, forKey: .unit)
        var written = encoder.container(keyedBy: WrittenKeys.self)
        try written.encode(sentence, forKey: .sentence)
    }

    /// The reason in words, as alerts, job messages and benchmark reports show it.
    public var sentence: String {
        switch severity {
        case .notLearned:
            String(format: "%@ did not learn (%.4f, base %.4f)", metric.description, value, reference)
        case .nonFinite: "\(metric) is not finite (\(value) vs \(reference))"
        case .stale: String(format: "version %.0f became active meanwhile (parent %.0f)", value, reference)
        case .warning, .critical:
            String(
                format: "%@ drifted %+.2f%@ (%.4f vs %.4f, %@ threshold %.1f%@)", metric.description,
                degradationPercent, unit ?? "%", value, reference, severity.rawValue, thresholdPercent, unit ?? "%")
        }
    }
}
