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
    /// A cluster job: its Slurm id, state and node (nil for a local job).
    public var cluster: ClusterProgress?

    public init(
        id: Int64, domain: String, phase: String, step: Int, totalSteps: Int, loss: Double?, tokensPerSecond: Double?,
        etaSeconds: Double?, spectralExcess: Double?, startedAt: Double, cluster: ClusterProgress? = nil
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
        self.cluster = cluster
    }
}

/// Where a cluster job stands in Slurm, as `squeue` says.
public struct ClusterProgress: Sendable, Codable, Equatable {
    public var job: String
    /// Slurm's state word: PENDING, RUNNING, COMPLETING, ...
    public var state: String
    /// The node it runs on (empty while pending).
    public var node: String
    public var resubmissions: Int

    public init(job: String, state: String, node: String, resubmissions: Int) {
        self.job = job
        self.state = state
        self.node = node
        self.resubmissions = resubmissions
    }
}
