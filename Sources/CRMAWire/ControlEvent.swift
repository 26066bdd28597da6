/// One server-sent event of `GET /v1/events` (`data: {json}` then a blank line), told apart by its
/// `"event"` field: `progress` (with the running job), `job` (a job reached a state), `job_queued`, `alert`.
///
/// - Important: `job` is a ``JobProgress`` object in `progress` events but the job's id as a string in
///   `job` and `job_queued` events; that is the shape the daemon sends.
public enum ControlEvent: Sendable, Equatable, Codable {
    case progress(JobProgress)
    /// A job changed state ("accepted", "rolled_back", "failed", "cancelled").
    case job(id: String, state: String)
    case jobQueued(id: String, domain: String)
    case alert(kind: String, message: String)

    enum CodingKeys: String, CodingKey {
        case event, job, state, domain, kind, message
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .event) {
        case "progress": self = .progress(try c.decode(JobProgress.self, forKey: .job))
        case "job":
            self = .job(id: try c.decode(String.self, forKey: .job), state: try c.decode(String.self, forKey: .state))
        case "job_queued":
            self = .jobQueued(
                id: try c.decode(String.self, forKey: .job), domain: try c.decode(String.self, forKey: .domain))
        case "alert":
            self = .alert(
                kind: try c.decode(String.self, forKey: .kind), message: try c.decode(String.self, forKey: .message))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .event, in: c, debugDescription: "unknown event \(other)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .progress(let p):
            try c.encode("progress", forKey: .event)
            try c.encode(p, forKey: .job)
        case .job(let id, let state):
            try c.encode("job", forKey: .event)
            try c.encode(id, forKey: .job)
            try c.encode(state, forKey: .state)
        case .jobQueued(let id, let domain):
            try c.encode("job_queued", forKey: .event)
            try c.encode(id, forKey: .job)
            try c.encode(domain, forKey: .domain)
        case .alert(let kind, let message):
            try c.encode("alert", forKey: .event)
            try c.encode(kind, forKey: .kind)
            try c.encode(message, forKey: .message)
        }
    }
}
