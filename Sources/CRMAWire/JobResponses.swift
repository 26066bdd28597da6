/// What `POST /v1/retry` answers: the id of the queued job (a number).
public struct RetryResponse: Sendable, Equatable, Codable {
    public var job: Int64

    public init(job: Int64) { self.job = job }
}

/// What `POST /v1/jobs/{id}/cancel` answers: the job's id (a string) and "cancelled" (it was queued) or
/// "cancelling" (it stops at its next step).
public struct CancelResponse: Sendable, Equatable, Codable {
    public var job: String
    public var state: String

    public init(job: String, state: String) {
        self.job = job
        self.state = state
    }
}
