import CRMAContinual
import Foundation

/// What an update job is, as crmad writes it into the job's directory for a worker (its own job thread or
/// `crmad worker DIR` on a compute node): everything but the rows and adapters, which are files beside it
/// (``JobDirectory``). Pinned when the job first starts; a resubmitted or resumed job reads the same spec.
public struct UpdateSpec: Sendable, Equatable, Codable {
    /// The layout of a job directory this crmad writes; a worker refuses another.
    public static let currentFormat = 1

    public var format = Self.currentFormat
    public var job: Int64
    public var domain: String
    /// The version the update builds on (its adapters are the directory's parent file, if it has any).
    public var parentVersion: Int64
    /// The model every worker loads, by an absolute path every node sees, and its frozen base.
    public var model: String
    public var base: String
    /// The update's settings (strategy, adapters, optimizer, steps, checkpoint interval, stability check).
    public var settings: ContinualConfig
    /// Tokens per row of the general benchmarks (the training sequence length).
    public var generalContext: Int
    /// The base model's general scores when crmad knows them already (else the worker measures them once).
    public var generalBase: [String: Double]?
    /// OpenBLAS threads for the worker (0: the node's Slurm allocation, else OpenBLAS decides).
    public var blasThreads: Int

    public init(
        job: Int64, domain: String, parentVersion: Int64, model: String, base: String, settings: ContinualConfig,
        generalContext: Int, generalBase: [String: Double]?, blasThreads: Int
    ) {
        self.job = job
        self.domain = domain
        self.parentVersion = parentVersion
        self.model = model
        self.base = base
        self.settings = settings
        self.generalContext = generalContext
        self.generalBase = generalBase
        self.blasThreads = blasThreads
    }
}

/// How training ended on the worker: what crmad needs besides the candidate's adapters.
public struct TrainingRecord: Sendable, Equatable, Codable {
    /// Optimizer steps taken in all (fewer than planned when the stability check stopped it).
    public var steps: Int
    public var stabilityStop: StabilityStop?
    /// The version the candidate is built on. When the spec names another (crmad rebased the job onto a
    /// sibling's promoted version), the worker places the candidate's own LoRA onto the new parent first.
    public var parentVersion: Int64
}

/// A worker's measurement of the candidate built on `parentVersion` (a measurement of another parent is
/// stale: measured again).
public struct WorkerMeasurement: Sendable, Equatable, Codable {
    public var parentVersion: Int64
    public var scores: UpdateMeasurement
}
