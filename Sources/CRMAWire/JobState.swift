/// Where an update job is in its life (queued → training → evaluating → accepted | rolled back | failed,
/// or cancelled); sent as its raw value. The transitions are CRMADaemon's `JobMachine`.
public enum JobState: String, Sendable, Equatable, Codable, CaseIterable {
    case queued, training, evaluating, accepted
    case rolledBack = "rolled_back"
    case failed, cancelled

    /// Whether the job is over (no event moves it any more).
    public var isFinal: Bool { self == .accepted || self == .rolledBack || self == .failed || self == .cancelled }
}
