import CRMAWire
import Foundation
import GRDB

/// The daemon's durable state in SQLite (WAL): stored files and documents, the job queue, immutable
/// versions with one active pointer, and alerts. Every multi-row change is one transaction.
public final class Registry: Sendable {
    public let db: DatabasePool

    /// Opens (or creates) the registry at `path`, migrated to the current schema.
    public convenience init(path: String) throws {
        try self.init(path: path, migratedUpTo: nil)
    }

    /// The registry migrated only up to the migration named `migratedUpTo` (nil: all of them); tests use
    /// it to make a database as an older crmad left it.
    init(path: String, migratedUpTo: String?) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        db = try DatabasePool(path: path, configuration: config)
        if let migratedUpTo {
            try Self.migrator.migrate(db, upTo: migratedUpTo)
        } else {
            try Self.migrator.migrate(db)
        }
        try db.write { db in
            if try Int.fetchOne(db, sql: "SELECT count(*) FROM versions") == 0 {
                try db.execute(
                    sql: """
                        INSERT INTO versions (id, state, config_hash, data_hashes, refs, losses, general, reasons, created_at)
                        VALUES (1, 'base', '', '[]', '{}', '{}', '{}', '[]', ?)
                        """, arguments: [Date().timeIntervalSince1970])
                try db.execute(sql: "INSERT INTO active (one, version_id) VALUES (1, 1)")
            }
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE files (
                        hash TEXT PRIMARY KEY, domain TEXT NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL,
                        documents INTEGER NOT NULL, ingested_at REAL NOT NULL);
                    CREATE TABLE documents (
                        hash TEXT NOT NULL, domain TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('train','holdout')),
                        file_hash TEXT NOT NULL REFERENCES files(hash), blob TEXT NOT NULL,
                        PRIMARY KEY (domain, hash));
                    CREATE TABLE jobs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, domain TEXT NOT NULL, state TEXT NOT NULL,
                        strategy TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
                        not_before REAL NOT NULL, step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL,
                        version_id INTEGER, message TEXT);
                    CREATE TABLE versions (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, parent_id INTEGER, domain TEXT, job_id INTEGER,
                        state TEXT NOT NULL, adapters_hash TEXT, config_hash TEXT NOT NULL, data_hashes TEXT NOT NULL,
                        refs TEXT NOT NULL, losses TEXT NOT NULL, general TEXT NOT NULL, reasons TEXT NOT NULL,
                        created_at REAL NOT NULL);
                    CREATE TABLE active (one INTEGER PRIMARY KEY CHECK (one = 1), version_id INTEGER NOT NULL);
                    CREATE TABLE alerts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL,
                        priority INTEGER NOT NULL, message TEXT NOT NULL, domain TEXT, version INTEGER,
                        fields TEXT NOT NULL);
                    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """)
        }
        m.registerMigration("v2: lineage") { db in
            try db.execute(sql: "ALTER TABLE versions ADD COLUMN lineage TEXT NOT NULL DEFAULT '{}'")
        }
        // The same content dropped into two domains is a file of each: files are keyed by (hash, domain),
        // and documents reference their file in their own domain. SQLite cannot change a primary key in
        // place, so both tables are rebuilt and their rows copied (foreign keys are off during a
        // migration and checked before it commits).
        m.registerMigration("v3: files per domain") { db in
            try db.execute(
                sql: """
                    CREATE TABLE files_new (
                        hash TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL,
                        documents INTEGER NOT NULL, ingested_at REAL NOT NULL, PRIMARY KEY (hash, domain));
                    INSERT INTO files_new (hash, domain, name, bytes, documents, ingested_at)
                      SELECT hash, domain, name, bytes, documents, ingested_at FROM files;
                    CREATE TABLE documents_new (
                        hash TEXT NOT NULL, domain TEXT NOT NULL,
                        role TEXT NOT NULL CHECK (role IN ('train', 'holdout')), file_hash TEXT NOT NULL,
                        blob TEXT NOT NULL, PRIMARY KEY (domain, hash),
                        FOREIGN KEY (file_hash, domain) REFERENCES files (hash, domain));
                    INSERT INTO documents_new (hash, domain, role, file_hash, blob)
                      SELECT hash, domain, role, file_hash, blob FROM documents;
                    DROP TABLE documents;
                    DROP TABLE files;
                    ALTER TABLE files_new RENAME TO files;
                    ALTER TABLE documents_new RENAME TO documents;
                    """)
        }
        m.registerMigration("v4: cluster jobs") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN cluster_job TEXT;
                    ALTER TABLE jobs ADD COLUMN cluster_resubmissions INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE jobs ADD COLUMN cluster_attempt INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        return m
    }

    // MARK: files and documents

    /// Records a stored file and its documents in one transaction. Returns false if the file was
    /// already stored for its domain (same content, same domain): re-ingesting is a no-op. The same
    /// content in another domain is a file of that domain too.
    @discardableResult
    public func recordFile(_ file: FileRecord, documents: [(hash: String, role: String, blob: String)]) throws -> Bool {
        try db.write { db in
            if try Self.hasFile(db, hash: file.hash, domain: file.domain) { return false }
            try db.execute(
                sql: "INSERT INTO files (hash, domain, name, bytes, documents, ingested_at) VALUES (?,?,?,?,?,?)",
                arguments: [file.hash, file.domain, file.name, file.bytes, file.documents, file.ingestedAt])
            for d in documents {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO documents (hash, domain, role, file_hash, blob) VALUES (?,?,?,?,?)",
                    arguments: [d.hash, file.domain, d.role, file.hash, d.blob])
            }
            return true
        }
    }

    /// Whether a file with this content hash is stored for `domain` (another domain's copy does not count).
    public func hasFile(_ hash: String, domain: String) throws -> Bool {
        try db.read { try Self.hasFile($0, hash: hash, domain: domain) }
    }

    static func hasFile(_ db: Database, hash: String, domain: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM files WHERE hash = ? AND domain = ?", arguments: [hash, domain])
            == true
    }

    public func files() throws -> [FileRecord] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM files ORDER BY ingested_at").map {
                FileRecord(
                    hash: $0["hash"], domain: $0["domain"], name: $0["name"], bytes: $0["bytes"],
                    documents: $0["documents"], ingestedAt: $0["ingested_at"])
            }
        }
    }

    /// Blob hashes of a domain's documents in a role ("train" or "holdout"), in a stable order.
    public func documentBlobs(domain: String, role: String) throws -> [String] {
        try db.read {
            try String.fetchAll(
                $0, sql: "SELECT blob FROM documents WHERE domain = ? AND role = ? ORDER BY hash",
                arguments: [domain, role])
        }
    }

    /// How many of a domain's documents are on a side ("train" or "holdout").
    public func documentCount(domain: String, role: String) throws -> Int {
        try db.read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM documents WHERE domain = ? AND role = ?", arguments: [domain, role])
                ?? 0
        }
    }

    public func domainNames() throws -> [String] {
        try db.read { try String.fetchAll($0, sql: "SELECT DISTINCT domain FROM files ORDER BY domain") }
    }

    public func domains() throws -> [DomainRecord] {
        let active = try activeVersion()
        return try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT f.domain AS domain, count(DISTINCT f.hash) AS files,
                      (SELECT count(*) FROM documents d WHERE d.domain = f.domain AND d.role = 'train') AS train,
                      (SELECT count(*) FROM documents d WHERE d.domain = f.domain AND d.role = 'holdout') AS holdout
                    FROM files f GROUP BY f.domain ORDER BY f.domain
                    """
            ).map {
                let name: String = $0["domain"]
                return DomainRecord(
                    name: name, files: $0["files"], trainDocuments: $0["train"], holdoutDocuments: $0["holdout"],
                    learnedLoss: active.references[name], currentLoss: active.losses[name])
            }
        }
    }

    // MARK: jobs

    /// Queues an update for `domain` with `strategy`, or pushes back the start of one already queued for
    /// the same domain and strategy (the debounce). A job with another strategy is never merged into.
    @discardableResult
    public func enqueue(domain: String, strategy: String, totalSteps: Int, notBefore: Double) throws -> Int64 {
        try db.write { db in
            let now = Date().timeIntervalSince1970
            if let id = try Int64.fetchOne(
                db,
                sql: "SELECT id FROM jobs WHERE domain = ? AND strategy = ? AND state = 'queued' ORDER BY id LIMIT 1",
                arguments: [domain, strategy])
            {
                try db.execute(
                    sql: "UPDATE jobs SET not_before = max(not_before, ?), updated_at = ? WHERE id = ?",
                    arguments: [notBefore, now, id])
                return id
            }
            try db.execute(
                sql: """
                    INSERT INTO jobs (domain, state, strategy, created_at, updated_at, not_before, total_steps)
                    VALUES (?, 'queued', ?, ?, ?, ?, ?)
                    """, arguments: [domain, strategy, now, now, notBefore, totalSteps])
            return db.lastInsertedRowID
        }
    }

    static func job(_ r: Row) -> JobRecord {
        JobRecord(
            id: r["id"], domain: r["domain"], state: JobState(rawValue: r["state"]) ?? .failed, strategy: r["strategy"],
            createdAt: r["created_at"], updatedAt: r["updated_at"], notBefore: r["not_before"], step: r["step"],
            totalSteps: r["total_steps"], versionID: r["version_id"], message: r["message"],
            cluster: (r["cluster_job"] as String?).map { ClusterJob(id: $0, resubmissions: r["cluster_resubmissions"]) })
    }

    public func jobs(limit: Int = 100) throws -> [JobRecord] {
        try db.read { try Row.fetchAll($0, sql: "SELECT * FROM jobs ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.job) }
    }

    public func job(_ id: Int64) throws -> JobRecord? {
        try db.read { try Row.fetchOne($0, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(Self.job) }
    }

    /// Jobs that were running when the daemon stopped (training or evaluating), oldest first.
    public func interruptedJobs() throws -> [JobRecord] {
        try db.read {
            try Row.fetchAll($0, sql: "SELECT * FROM jobs WHERE state IN ('training','evaluating') ORDER BY id").map(
                Self.job)
        }
    }

    /// The next queued job whose debounce window has passed, of a domain not in `busy` (domains with a job
    /// in flight: never two updates of one domain at once).
    public func nextReadyJob(now: Double, busy: [String] = []) throws -> JobRecord? {
        try db.read { db in
            let exclude = busy.isEmpty ? "" : " AND domain NOT IN (\(busy.map { _ in "?" }.joined(separator: ",")))"
            return try Row.fetchOne(
                db, sql: "SELECT * FROM jobs WHERE state = 'queued' AND not_before <= ?\(exclude) ORDER BY id LIMIT 1",
                arguments: StatementArguments([now] + busy.map { $0 as any DatabaseValueConvertible })
            ).map(Self.job)
        }
    }

    /// Seconds until the next queued job is ready, or nil when none is queued.
    public func nextQueuedStart() throws -> Double? {
        try db.read { try Double.fetchOne($0, sql: "SELECT min(not_before) FROM jobs WHERE state = 'queued'") }
    }

    public func queueDepth() throws -> Int {
        try db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM jobs WHERE state = 'queued'") ?? 0 }
    }

    /// Moves job `id` from `expected` to `state`, setting its message when one is given, in one transaction:
    /// false, changing nothing, when the job is no longer in `expected` (e.g. the job runner started a queued job
    /// between an operator's look at it and the cancel). The registry only stores the move; which move a job
    /// makes is ``JobMachine``'s decision, applied by the caller.
    @discardableResult
    /// `restarting`: the job starts over (a rebase or retrain) — its Slurm job is forgotten in the same
    /// transaction, so a crash right after never follows the Slurm job that built the superseded candidate.
    public func moveJob(
        _ id: Int64, from expected: JobState, to state: JobState, message: String? = nil, restarting: Bool = false
    ) throws -> Bool {
        try db.write { db in
            guard try Self.state(db, job: id) == expected else { return false }
            try db.execute(
                sql: "UPDATE jobs SET state = ?, updated_at = ?, message = coalesce(?, message) WHERE id = ?",
                arguments: [state.rawValue, Date().timeIntervalSince1970, message, id])
            if restarting {
                try db.execute(
                    sql: "UPDATE jobs SET cluster_job = NULL, cluster_resubmissions = 0 WHERE id = ?",
                    arguments: [id])
            }
            return true
        }
    }

    static func state(_ db: Database, job id: Int64) throws -> JobState {
        guard let row = try Row.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id]),
            let state = JobState(rawValue: row["state"])
        else { throw RegistryError.noSuchJob(id) }
        return state
    }

    /// Records the Slurm job that runs job `id` (before anything else can happen to it: a crash after this
    /// adopts it, never submits it twice).
    /// A Slurm submission of job `id`: its number (the job's Slurm name carries it) and how many
    /// resubmissions preceded it.
    public struct ClusterSubmission: Sendable, Equatable {
        public var attempt: Int
        public var resubmissions: Int
    }

    /// Starts a new Slurm submission of job `id` (a first start, a resubmission, a rebase, a retrain) before
    /// sbatch runs: its number is made durable and the previous Slurm job forgotten, in one transaction. A
    /// crash before its id is stored leaves a job with no Slurm job, found again by name at the next start.
    public func startClusterSubmission(_ id: Int64, resubmissions: Int) throws -> ClusterSubmission {
        try db.write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET cluster_attempt = cluster_attempt + 1, cluster_job = NULL,
                    cluster_resubmissions = ? WHERE id = ?
                    """, arguments: [resubmissions, id])
            let attempt = try Int.fetchOne(db, sql: "SELECT cluster_attempt FROM jobs WHERE id = ?", arguments: [id])
            guard let attempt else { throw RegistryError.noSuchJob(id) }
            return ClusterSubmission(attempt: attempt, resubmissions: resubmissions)
        }
    }

    /// The job's current Slurm submission (a restart that found no stored Slurm id looks for a job of its
    /// name); a new one when it never had one.
    public func currentClusterSubmission(_ id: Int64) throws -> ClusterSubmission {
        let current = try db.read { db in
            try Row.fetchOne(
                db, sql: "SELECT cluster_attempt, cluster_resubmissions FROM jobs WHERE id = ?", arguments: [id])
        }
        guard let current else { throw RegistryError.noSuchJob(id) }
        let attempt: Int = current["cluster_attempt"]
        if attempt == 0 { return try startClusterSubmission(id, resubmissions: 0) }
        return ClusterSubmission(attempt: attempt, resubmissions: current["cluster_resubmissions"])
    }

    /// The number of job `id`'s current Slurm submission (0: never submitted).
    public func clusterAttemptNumber(_ id: Int64) throws -> Int {
        try db.read { try Int.fetchOne($0, sql: "SELECT cluster_attempt FROM jobs WHERE id = ?", arguments: [id]) ?? 0 }
    }

    /// Records the Slurm job that runs job `id`'s current submission.
    public func setClusterJob(_ id: Int64, slurmID: String) throws {
        try db.write {
            try $0.execute(
                sql: "UPDATE jobs SET cluster_job = ?, updated_at = ? WHERE id = ?",
                arguments: [slurmID, Date().timeIntervalSince1970, id])
        }
    }

    public func setTotalSteps(job id: Int64, _ total: Int) throws {
        try db.write { try $0.execute(sql: "UPDATE jobs SET total_steps = ? WHERE id = ?", arguments: [total, id]) }
    }

    public func setProgress(job id: Int64, step: Int) throws {
        try db.write {
            try $0.execute(
                sql: "UPDATE jobs SET step = ?, updated_at = ? WHERE id = ?",
                arguments: [step, Date().timeIntervalSince1970, id])
        }
    }

    // MARK: versions

    static func version(_ r: Row, active: Int64) throws -> VersionRecord {
        let dec = WireJSON.decoder()
        func json<T: Decodable>(_ col: String, _ t: T.Type) throws -> T {
            try dec.decode(T.self, from: Data((r[col] as String).utf8))
        }
        let id: Int64 = r["id"]
        return VersionRecord(
            id: id, parentID: r["parent_id"], domain: r["domain"], jobID: r["job_id"], state: r["state"],
            adaptersHash: r["adapters_hash"], configHash: r["config_hash"],
            dataHashes: try json("data_hashes", [String].self), references: try json("refs", [String: Double].self),
            losses: try json("losses", [String: Double].self), general: try json("general", [String: Double].self),
            reasons: try json("reasons", [GateReasonRecord].self), createdAt: r["created_at"], active: id == active,
            lineage: try json("lineage", [String: DomainLineage].self))
    }

    public func activeVersionID() throws -> Int64 {
        try db.read { try Int64.fetchOne($0, sql: "SELECT version_id FROM active") ?? 1 }
    }

    public func activeVersion() throws -> VersionRecord {
        try db.read { db in
            let a = try Int64.fetchOne(db, sql: "SELECT version_id FROM active") ?? 1
            guard let r = try Row.fetchOne(db, sql: "SELECT * FROM versions WHERE id = ?", arguments: [a]) else {
                throw RegistryError.noSuchVersion(a)
            }
            return try Self.version(r, active: a)
        }
    }

    public func versions() throws -> [VersionRecord] {
        try db.read { db in
            let a = try Int64.fetchOne(db, sql: "SELECT version_id FROM active") ?? 1
            return try Row.fetchAll(db, sql: "SELECT * FROM versions ORDER BY id").map { try Self.version($0, active: a) }
        }
    }

    public func version(_ id: Int64) throws -> VersionRecord? {
        try db.read { db in
            let a = try Int64.fetchOne(db, sql: "SELECT version_id FROM active") ?? 1
            return try Row.fetchOne(db, sql: "SELECT * FROM versions WHERE id = ?", arguments: [id]).map {
                try Self.version($0, active: a)
            }
        }
    }

    /// Whether `version` was built, directly or through later versions, on `ancestor` (false for itself).
    public func descends(_ version: Int64, from ancestor: Int64) throws -> Bool {
        try db.read { db in
            var current = version
            var seen: Set<Int64> = []
            while let parent = try Int64.fetchOne(db, sql: "SELECT parent_id FROM versions WHERE id = ?", arguments: [current]),
                seen.insert(parent).inserted
            {
                if parent == ancestor { return true }
                current = parent
            }
            return false
        }
    }

    /// What ``conclude(job:from:candidate:accept:finish:)`` did with a candidate.
    public enum Conclusion: Sendable, Equatable {
        /// Accepted and now active.
        case promoted(version: Int64)
        /// Rolled back by the gate; the active version is unchanged.
        case rolledBack(version: Int64)
        /// Accepted by the gate, but its parent is no longer the active version (an operator rolled back,
        /// or another version was promoted, while it trained): stored as rolled back, never activated.
        case stale(version: Int64, active: Int64)

        public var version: Int64 {
            switch self {
            case .promoted(let v), .rolledBack(let v), .stale(let v, _): v
            }
        }
    }

    /// Records the outcome of a job's evaluation in one transaction: the new version and — when `accept` and
    /// its parent `v.parentID` is still the active version — the active pointer (compare-and-swap: a
    /// promotion never undoes a rollback or promotion made meanwhile), only while the job is still in
    /// `expected` (else nothing changes); a stale candidate's version gets the
    /// reason ``GateSeverity/stale``. `finish` receives what happened and returns the job's new state and
    /// message, stored in the same transaction (the caller decides them: ``JobMachine``).
    public func conclude(
        job id: Int64, from expected: JobState, candidate v: VersionRecord, accept: Bool,
        finish: (Conclusion) throws -> (state: JobState, message: String)
    ) throws -> Conclusion {
        try db.write { db in
            let enc = WireJSON.encoder()
            func json<T: Encodable>(_ x: T) throws -> String { String(decoding: try enc.encode(x), as: UTF8.self) }
            guard try Self.state(db, job: id) == expected else { throw JobControlError.movedMeanwhile(id, expected: expected) }
            let active = try Int64.fetchOne(db, sql: "SELECT version_id FROM active") ?? 1
            let stale = accept && v.parentID != active
            let promote = accept && !stale
            var reasons = v.reasons
            if stale {
                reasons.insert(
                    GateReasonRecord(
                        severity: .stale, metric: .parentVersion, value: Double(active),
                        reference: Double(v.parentID ?? 1), degradationPercent: 0, thresholdPercent: 0), at: 0)
            }
            try db.execute(
                sql: """
                    INSERT INTO versions (parent_id, domain, job_id, state, adapters_hash, config_hash, data_hashes,
                      refs, losses, general, reasons, created_at, lineage) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
                    """,
                arguments: [
                    v.parentID, v.domain, id, promote ? "accepted" : "rolled_back", v.adaptersHash, v.configHash,
                    try json(v.dataHashes), try json(v.references), try json(v.losses), try json(v.general),
                    try json(reasons), Date().timeIntervalSince1970, try json(v.lineage),
                ])
            let vid = db.lastInsertedRowID
            if promote { try db.execute(sql: "UPDATE active SET version_id = ?", arguments: [vid]) }
            let conclusion: Conclusion =
                stale ? .stale(version: vid, active: active) : promote ? .promoted(version: vid) : .rolledBack(version: vid)
            let (state, message) = try finish(conclusion)
            try db.execute(
                sql: "UPDATE jobs SET state = ?, version_id = ?, message = ?, updated_at = ? WHERE id = ?",
                arguments: [state.rawValue, vid, message, Date().timeIntervalSince1970, id])
            return conclusion
        }
    }

    /// Makes an earlier accepted version (or the base, 1) active again.
    public func activate(version id: Int64) throws {
        try db.write { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM versions WHERE id = ?", arguments: [id])
            else { throw RegistryError.noSuchVersion(id) }
            guard state == "accepted" || state == "base" else { throw RegistryError.notAccepted(id) }
            try db.execute(sql: "UPDATE active SET version_id = ?", arguments: [id])
        }
    }

    // MARK: alerts

    @discardableResult
    public func addAlert(_ a: AlertRecord) throws -> Int64 {
        try db.write { db in
            try db.execute(
                sql: "INSERT INTO alerts (time, kind, priority, message, domain, version, fields) VALUES (?,?,?,?,?,?,?)",
                arguments: [
                    a.time, a.kind, a.priority, a.message, a.domain, a.version,
                    String(decoding: try JSONEncoder().encode(a.fields), as: UTF8.self),
                ])
            return db.lastInsertedRowID
        }
    }

    public func alerts(limit: Int = 100) throws -> [AlertRecord] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alerts ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                AlertRecord(
                    id: $0["id"], time: $0["time"], kind: $0["kind"], priority: $0["priority"], message: $0["message"],
                    domain: $0["domain"], version: $0["version"],
                    fields: (try? JSONDecoder().decode([String: String].self, from: Data(($0["fields"] as String).utf8)))
                        ?? [:])
            }
        }
    }

    // MARK: settings

    public func setting(_ key: String) throws -> String? {
        try db.read { try String.fetchOne($0, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    /// This registry's identity, made once (random): it names crmad's directory under a shared filesystem,
    /// so two daemons that share one never touch each other's jobs.
    public func instance() throws -> String {
        try db.write { db in
            if let id = try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'instance'") { return id }
            let id = String(UUID().uuidString.lowercased().prefix(8))
            try db.execute(sql: "INSERT INTO settings (key, value) VALUES ('instance', ?)", arguments: [id])
            return id
        }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try db.write {
            try $0.execute(sql: "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }
}

public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case noSuchJob(Int64)
    case noSuchVersion(Int64)
    case notAccepted(Int64)

    public var description: String {
        switch self {
        case .noSuchJob(let id): "no job \(id) (see `crmactl jobs`)"
        case .noSuchVersion(let id): "no version \(id) (see `crmactl versions`)"
        case .notAccepted(let id): "version \(id) was rolled back, never accepted; pick an accepted one (`crmactl versions`)"
        }
    }
}
