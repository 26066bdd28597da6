import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation

/// One update job's directory: crmad writes the inputs, a worker writes what it made. The one contract
/// between the controller and a worker, whether the worker is crmad's own job thread or `crmad worker DIR`
/// on a compute node (docs/cluster.md):
///
/// | file | writer | what |
/// |---|---|---|
/// | `spec.json` | crmad | ``UpdateSpec`` |
/// | `job.json` | crmad | the pipeline's rows: the domain's training and holdout rows, every earlier domain's pinned rows and reference, replay's rows (`DomainUpdate.Job`) |
/// | `general.json` | crmad | the general benchmarks' documents and items (absent: none) |
/// | `parent.safetensors` | crmad | the parent version's adapters (absent: the base model) |
/// | `checkpoint.safetensors`, `teacher/` | worker | training's checkpoint (a resubmitted job resumes from it) |
/// | `progress.jsonl` | worker | one ``JobProgress`` per step, then the evaluation's start |
/// | `candidate.safetensors`, `trained.json` | worker | the trained adapters, ``TrainingRecord`` |
/// | `measurement.json` | worker | ``WorkerMeasurement``: scores only; crmad's gate decides |
/// | `worker.out`, `worker.err` | Slurm | the worker's output |
///
/// Every JSON and safetensors file is written atomically (a reader sees all of it or none; the spec is
/// written last, so a directory with a spec has all its inputs); progress lines are appended one by one.
/// A missing or unreadable file is a ``JobDirectoryError`` naming it, never a crash.
public struct JobDirectory: Sendable, Equatable {
    public let path: String

    public init(_ path: String) { self.path = path }

    public var spec: String { "\(path)/spec.json" }
    public var job: String { "\(path)/job.json" }
    public var general: String { "\(path)/general.json" }
    public var parent: String { "\(path)/parent.safetensors" }
    public var progress: String { "\(path)/progress.jsonl" }
    public var candidate: String { "\(path)/candidate.safetensors" }
    public var trained: String { "\(path)/trained.json" }
    public var measurement: String { "\(path)/measurement.json" }
    public var standardOutput: String { "\(path)/worker.out" }
    public var standardError: String { "\(path)/worker.err" }

    /// Whether crmad wrote the inputs (the spec is written last).
    public var hasInputs: Bool { FileManager.default.fileExists(atPath: spec) }

    // MARK: crmad's side

    /// Writes a job's inputs; the spec last, so a directory with a spec is complete.
    public func writeInputs(
        spec s: UpdateSpec, job j: DomainUpdate.Job, general g: GeneralSuite, parentAdapters: String?
    ) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        if let parentAdapters {
            try? FileManager.default.removeItem(atPath: parent)
            do {
                try FileManager.default.linkItem(atPath: parentAdapters, toPath: parent)
            } catch {
                // Another filesystem (a shared directory): copied.
                try AtomicFile.write(try Data(contentsOf: URL(fileURLWithPath: parentAdapters)), to: parent, mode: 0o640)
            }
        }
        var rows = j
        rows.directory = nil
        try write(rows, to: job)
        if !g.isEmpty { try write(g, to: general) }
        try write(s, to: spec)
    }

    /// Removes crmad's inputs and the worker's measurement and progress (a rebase writes them anew; the
    /// candidate and its training record stay, and the worker places the candidate onto the new parent).
    public func removeInputsAndMeasurement() {
        for f in [spec, job, general, parent, measurement, progress] { try? FileManager.default.removeItem(atPath: f) }
    }

    // MARK: the worker's side

    /// The spec, checked to be of this crmad's format.
    public func readSpec() throws -> UpdateSpec {
        let s: UpdateSpec = try read(spec)
        guard s.format == UpdateSpec.currentFormat else {
            throw JobDirectoryError.unreadable(
                spec, "format \(s.format), but this crmad reads format \(UpdateSpec.currentFormat); run the same crmad version on the nodes")
        }
        return s
    }

    /// The pipeline's rows, with this directory for checkpoints.
    public func readJob() throws -> DomainUpdate.Job {
        var j: DomainUpdate.Job = try read(job)
        j.directory = path
        return j
    }

    public func readGeneral() throws -> GeneralSuite {
        FileManager.default.fileExists(atPath: general) ? try read(general) : GeneralSuite()
    }

    /// The parent's adapters file, nil when the parent is the base model.
    public var parentAdapters: String? { FileManager.default.fileExists(atPath: parent) ? parent : nil }

    public func appendProgress(_ p: JobProgress) {
        guard var line = try? JSONEncoder().encode(p) else { return }
        line.append(UInt8(ascii: "\n"))
        // Progress is advisory: a line that cannot be written does not stop training.
        if let h = FileHandle(forWritingAtPath: progress) ?? create(progress) {
            _ = try? h.seekToEnd()
            try? h.write(contentsOf: line)
            try? h.close()
        }
    }

    /// The last complete progress line, nil when none was written yet.
    public func lastProgress() -> JobProgress? {
        guard let data = FileManager.default.contents(atPath: progress) else { return nil }
        for line in data.split(separator: UInt8(ascii: "\n")).reversed() {
            if let p = try? JSONDecoder().decode(JobProgress.self, from: Data(line)) { return p }
        }
        return nil
    }

    public func writeTrained(_ r: TrainingRecord) throws { try write(r, to: trained) }
    public func readTrained() throws -> TrainingRecord { try read(trained) }
    public func writeMeasurement(_ m: WorkerMeasurement) throws { try write(m, to: measurement) }
    public func readMeasurement() throws -> WorkerMeasurement { try read(measurement) }
    public var hasMeasurement: Bool { FileManager.default.fileExists(atPath: measurement) }

    /// The last `bytes` of the worker's standard error (why a cluster job failed), empty when none.
    public func standardErrorTail(bytes: Int = 2000) -> String {
        guard let data = FileManager.default.contents(atPath: standardError) else { return "" }
        return String(decoding: data.suffix(bytes), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: files

    private func create(_ file: String) -> FileHandle? {
        FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o640])
            ? FileHandle(forWritingAtPath: file) : nil
    }

    private func write<T: Encodable>(_ value: T, to file: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(value), to: file, mode: 0o640)
    }

    private func read<T: Decodable>(_ file: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: file) else { throw JobDirectoryError.missing(file) }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try decoder.decode(T.self, from: data)
        } catch {
            throw JobDirectoryError.unreadable(file, "\(error)")
        }
    }
}

/// A job directory that lacks a file or holds one that cannot be read: the job fails with this reason.
public enum JobDirectoryError: Error, Equatable, CustomStringConvertible {
    case missing(String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .missing(let f): "the job directory has no \((f as NSString).lastPathComponent) (\(f)); was it removed?"
        case .unreadable(let f, let why): "cannot read \(f): \(why)"
        }
    }
}
