import CRMAAdapters
import CRMAMonitor
import CRMATraining

/// Settings of one domain update, and of a run of them: the one settings type of the update pipeline
/// (``DomainUpdate``). `crma-bench forgetting` fills it from its flags, crmad from its configuration
/// (`DaemonConfig.continualConfig(strategy:)`).
public struct ContinualConfig: Sendable, Equatable, Codable {
    public var strategy: Strategy = .crma
    public var lora = LoRAConfig()
    public var crma = CRMAConfig()
    public var optimizer = OptimizerConfig()
    /// Optimizer steps per update, unless `epochs` is set.
    public var stepsPerDomain = 100
    /// Passes over the domain's training rows (0: use `stepsPerDomain`); see ``steps(trainingRows:)``.
    public var epochs = 0.0
    public var batchRows = 4
    /// Steps between checkpoints when the update has a directory (a stop or crash resumes from the last one).
    public var checkpointInterval = 10
    /// replay: fraction of each batch drawn from earlier domains.
    public var replayRatio = 0.25
    /// ewc: penalty strength λ, and the online decay γ (nil = offline: Fishers are summed).
    public var ewcLambda: Float = 100
    public var ewcOnlineGamma: Float?
    /// Batches used to estimate the diagonal Fisher after each domain.
    public var fisherBatches = 4
    /// lwf: weight of the data's cross-entropy, softmax temperature, and where the teacher comes from
    /// (`cached` keeps the states under `teacherCacheDirectory`, or the update's directory).
    public var lwfAlpha: Float = 0.5
    public var lwfTemperature: Float = 2
    public var lwfTeacher = TeacherMode.live
    public var teacherCacheDirectory: String?
    /// olora: strength λ of the orthogonality penalty.
    public var oloraLambda: Float = 0.5
    public var seed: UInt64 = 0
    /// Mid-update checks of earlier domains (the stability gap); `interval == 0` turns them off.
    public var stabilityCheck = StabilityCheck()
    /// The gate's warn and critical thresholds (percent of degradation).
    public var gate = GateThresholds()

    public init() {}

    /// Optimizer steps of an update over `trainingRows` packed rows: `epochs` passes when set (at least
    /// one step), else `stepsPerDomain`.
    public func steps(trainingRows: Int) -> Int {
        guard epochs > 0 else { return stepsPerDomain }
        return max(1, Int((Double(trainingRows) * epochs / Double(batchRows)).rounded(.up)))
    }

    /// The same settings with another strategy (a retry, or one column of the benchmark).
    public func with(strategy: Strategy) -> ContinualConfig {
        var c = self
        c.strategy = strategy
        return c
    }
}
