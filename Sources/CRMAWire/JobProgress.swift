/// The running job as the control API (`DaemonStatus.job`, progress events) and `crmactl watch` show it.
public struct JobProgress: Sendable, Codable, Equatable {
    public var id: Int64
    public var domain: String
    /// "training" or "evaluating".
    public var phase: String
    public var step: Int
    public var totalSteps: Int
    public var loss: Double?
    public var tokensPerSecond: Double?
    public var etaSeconds: Double?
    /// max over layers of ‖M‖₂ − 1 (CRMA's constraint; ≤ 1e-5 when healthy).
    public var spectralExcess: Double?
    /// Seconds since 1970.
    public var startedAt: Double

    public init(
        id: Int64, domain: String, phase: String, step: Int, totalSteps: Int, loss: Double?, tokensPerSecond: Double?,
        etaSeconds: Double?, spectralExcess: Double?, startedAt: Double
    ) {
        self.id = id
        self.domain = domain
        self.phase = phase
        self.step = step
        self.totalSteps = totalSteps
        self.loss = loss
        self.tokensPerSecond = tokensPerSecond
        self.etaSeconds = etaSeconds
        self.spectralExcess = spectralExcess
        self.startedAt = startedAt
    }
}
