/// What `GET /v1/status` returns (and `POST /v1/pause`, `/v1/resume`, `/v1/rollback` answer with): the
/// daemon's phase, the active version, the queue, and the running job's progress with an ETA.
public struct DaemonStatus: Sendable, Codable, Equatable {
    /// "idle", "paused", "stopping", or the running job's phase ("training", "evaluating").
    public var state: String
    public var paused: Bool
    public var activeVersion: Int64
    public var domains: Int
    public var queueDepth: Int
    public var job: JobProgress?
    /// Every job in flight, oldest first, when more than one runs at once (cluster.max_parallel > 1).
    public var jobs: [JobProgress]?
    public var model: String
    public var strategy: String
    public var uptimeSeconds: Double
    public var lastError: String?

    public init(
        state: String, paused: Bool, activeVersion: Int64, domains: Int, queueDepth: Int, job: JobProgress?,
        model: String, strategy: String, uptimeSeconds: Double, lastError: String?, jobs: [JobProgress]? = nil
    ) {
        self.state = state
        self.paused = paused
        self.activeVersion = activeVersion
        self.domains = domains
        self.queueDepth = queueDepth
        self.job = job
        self.model = model
        self.strategy = strategy
        self.uptimeSeconds = uptimeSeconds
        self.lastError = lastError
        self.jobs = jobs
    }
}
