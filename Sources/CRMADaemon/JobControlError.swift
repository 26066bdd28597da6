import CRMAWire

/// Why an operator's request about a job or domain is refused.
public enum JobControlError: Error, Equatable, CustomStringConvertible {
    case alreadyFinished(Int64, JobState)
    /// The job is being evaluated; evaluation cannot be interrupted (it concludes shortly).
    case evaluating(Int64)
    case noSuchDomain(String)
    /// The job left the state a change assumed (another request or the job runner moved it meanwhile).
    case movedMeanwhile(Int64, expected: JobState)

    public var description: String {
        switch self {
        case .alreadyFinished(let id, let s): "job \(id) is already \(s.rawValue)"
        case .evaluating(let id):
            "job \(id) is evaluating; it concludes in a moment — roll back its version afterwards if needed"
        case .noSuchDomain(let d): "no domain \(d) (see `crmactl domains`)"
        case .movedMeanwhile(let id, let s): "job \(id) is no longer \(s.rawValue); look at it again (crmactl jobs)"
        }
    }
}
