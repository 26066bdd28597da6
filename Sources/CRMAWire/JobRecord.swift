/// One update job (a batch of a domain's files), as stored and as `GET /v1/jobs` sends it.
public struct JobRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var domain: String
    public var state: JobState
    public var strategy: String
    /// Seconds since 1970.
    public var createdAt: Double
    public var updatedAt: Double
    /// Not started before this time (the ingest debounce window).
    public var notBefore: Double
    public var step: Int
    public var totalSteps: Int
    /// The accepted version it produced, or the rolled-back candidate.
    public var versionID: Int64?
    public var message: String?
    /// The Slurm job running it (cluster.engine = "slurm"), nil for a local job.
    public var cluster: ClusterJob?

    public init(
        id: Int64, domain: String, state: JobState, strategy: String, createdAt: Double, updatedAt: Double,
        notBefore: Double, step: Int, totalSteps: Int, versionID: Int64?, message: String?, cluster: ClusterJob? = nil
    ) {
        self.id = id
        self.domain = domain
        self.state = state
        self.strategy = strategy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.notBefore = notBefore
        self.step = step
        self.totalSteps = totalSteps
        self.versionID = versionID
        self.message = message
        self.cluster = cluster
    }
}

/// A Slurm job that runs an update: its id, and how often crmad resubmitted the update (after TIMEOUT,
/// NODE_FAIL or PREEMPTED).
public struct ClusterJob: Sendable, Codable, Equatable {
    public var id: String
    public var resubmissions: Int

    public init(id: String, resubmissions: Int) {
        self.id = id
        self.resubmissions = resubmissions
    }
}
