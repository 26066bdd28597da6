/// A gate reason as stored: the schema is the registry's own (it outlives changes to CRMAMonitor's
/// `GateReason`), so it is a separate type; `severity` adds "stale" (the parent stopped being active).
public struct GateReasonRecord: Sendable, Equatable, Codable {
    public var severity: String
    public var metric: String
    public var value: Double
    public var reference: Double
    public var degradationPercent: Double
    public var thresholdPercent: Double

    public init(
        severity: String, metric: String, value: Double, reference: Double, degradationPercent: Double,
        thresholdPercent: Double
    ) {
        self.severity = severity
        self.metric = metric
        self.value = value
        self.reference = reference
        self.degradationPercent = degradationPercent
        self.thresholdPercent = thresholdPercent
    }
}
