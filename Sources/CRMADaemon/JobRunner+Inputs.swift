import CRMAContinual
import CRMAModel
import CRMATraining
import CRMAWire
import Foundation
import Logging

/// What the pipeline needs for a job: the domain's stored data, every domain of the parent's lineage on its
/// pinned rows (scored as it was learned), and for replay the earlier domains' training rows.
struct UpdateInputs {
    var job: DomainUpdate.Job
    var holdoutDocuments: [String]
    var documentHashes: [String]
}

extension JobRunner {
    /// crmad's own directory of a job: the pins it reads the job's inputs by (parent, documents.json) and,
    /// for the local engine, the worker's directory too.
    func jobDirectory(_ id: Int64) -> String { "\(config.paths.stateDirectory)/jobs/\(id)" }

    /// Where the job's worker reads its inputs and writes what it made: under cluster.shared_dir for the
    /// slurm engine (every node sees it), crmad's own job directory for the local one.
    func workDirectory(_ id: Int64) -> JobDirectory {
        switch config.cluster.engine {
        case .local: JobDirectory(jobDirectory(id))
        case .slurm: JobDirectory("\(config.cluster.sharedDirectory)/crmad-\(instance)/jobs/\(id)")
        }
    }

    /// Removes everything a job left: its checkpoints, pins, candidate, and its directory on the shared filesystem.
    func removeDirectories(_ id: Int64) {
        try? FileManager.default.removeItem(atPath: jobDirectory(id))
        if config.cluster.engine == .slurm { try? FileManager.default.removeItem(atPath: workDirectory(id).path) }
    }

    func configHash(strategy: String) -> String {
        SHA256.hex(Array("\(strategy)|\(config.adapter)|\(config.training)|\(lm.path)".utf8))
    }

    /// The version a job builds on, fixed when it starts (written durably into its directory), so a
    /// resumed job continues from the same parent even if the active version changed meanwhile.
    func parentVersion(of job: JobRecord) throws -> VersionRecord {
        let dir = jobDirectory(job.id)
        let file = "\(dir)/parent"
        if let s = try? String(contentsOfFile: file, encoding: .utf8), let id = Int64(s),
            let v = try registry.version(id)
        {
            return v
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let v = try registry.activeVersion()
        try AtomicFile.write(Data("\(v.id)".utf8), to: file, mode: 0o640)
        return v
    }

    /// Makes `version` the job's parent from now on (a rebase).
    func repin(_ id: Int64, parent version: Int64) throws {
        let dir = jobDirectory(id)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data("\(version)".utf8), to: "\(dir)/parent", mode: 0o640)
    }

    /// The documents a job reads, by domain (its own, and for replay the earlier domains'), fixed when it
    /// starts and written durably into its directory: files ingested while it trains, or before a resumed
    /// job continues, never change the rows its checkpoint's data cursor and schedule refer to.
    func jobDocuments(of job: JobRecord, domains: [String]) throws -> [String: StoredDomain.Documents] {
        let dir = jobDirectory(job.id)
        let file = "\(dir)/documents.json"
        if let data = FileManager.default.contents(atPath: file),
            let pinned = try? JSONDecoder().decode([String: StoredDomain.Documents].self, from: data)
        {
            return pinned
        }
        var current: [String: StoredDomain.Documents] = [:]
        for d in domains { current[d] = try StoredDomain.Documents.current(d, registry: registry) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        try AtomicFile.write(try enc.encode(current), to: file, mode: 0o640)
        return current
    }

    func updateInputs(job: JobRecord, parent: VersionRecord, strategy: Strategy) throws -> UpdateInputs {
        let replayDomains =
            strategy == .replay
            ? DomainUpdate.replaySources(learned: parent.references.keys.sorted(), learning: job.domain) : []
        let documents = try jobDocuments(of: job, domains: [job.domain] + replayDomains)
        let stored = try StoredDomain.load(
            domain: job.domain, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
            sequenceLength: config.training.sequenceLength, holdoutRows: config.monitor.holdoutRows,
            documents: documents[job.domain])
        var earlier: [LearnedDomain] = []
        for (d, reference) in parent.references.sorted(by: { $0.key < $1.key }) {
            // Versions written before lineage existed: assume the configured strategy, not this job's (a
            // retry on another strategy would otherwise score those domains with adapters they never had).
            earlier.append(
                try learnedDomain(d, reference: reference, lineage: parent.lineage[d], fallback: config.training.strategy))
        }
        var replay: [PackedRow] = []
        for d in replayDomains {
            replay += try StoredDomain.load(
                domain: d, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
                sequenceLength: config.training.sequenceLength, holdoutRows: 0, documents: documents[d]
            ).data.train
        }
        return UpdateInputs(
            job: DomainUpdate.Job(
                domain: stored.data, earlier: earlier, replayRows: replay, seed: config.training.seed &+ UInt64(job.id),
                directory: jobDirectory(job.id)),
            holdoutDocuments: stored.holdoutDocuments, documentHashes: stored.documentHashes)
    }

    /// An earlier domain as its lineage pinned it. Versions written before lineage existed have only a
    /// reference: their rows are read from the stored holdout documents as then (and said so in the journal).
    func learnedDomain(_ d: String, reference: Double, lineage: DomainLineage?, fallback: Strategy) throws
        -> LearnedDomain
    {
        if let lineage {
            return LearnedDomain(
                name: d, strategy: Strategy(rawValue: lineage.strategy) ?? fallback,
                holdout: try StoredDomain.pinnedRows(lineage, blobs: blobs), reference: lineage.reference)
        }
        logger.notice("\(d) has no pinned holdout in its version (written by an older crmad); using its stored holdout")
        let rows = try StoredDomain.load(
            domain: d, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
            sequenceLength: config.training.sequenceLength, holdoutRows: config.monitor.holdoutRows, packTrain: false
        ).data.holdout
        return LearnedDomain(name: d, strategy: fallback, holdout: rows, reference: reference)
    }
}
