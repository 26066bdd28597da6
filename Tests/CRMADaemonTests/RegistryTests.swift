import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

@Suite struct RegistryTests {
    let dir = TempDirectory("registry")
    var registry: Registry { get throws { try Registry(path: "\(dir.path)/crmad.sqlite") } }

    func candidate(parent: Int64, domain: String, refs: [String: Double]) -> VersionRecord {
        VersionRecord(
            id: 0, parentID: parent, domain: domain, jobID: nil, state: "", adaptersHash: "h", configHash: "c",
            dataHashes: ["d"], references: refs, losses: refs, general: [:], reasons: [], createdAt: 0, active: false)
    }

    @Test func startsWithTheBaseVersionActive() throws {
        let r = try registry
        #expect(try r.activeVersionID() == 1)
        #expect(try r.activeVersion().state == "base")
        // Opening again (a restart) keeps one base version.
        #expect(try Registry(path: "\(dir.path)/crmad.sqlite").versions().count == 1)
    }

    @Test func enqueueDebouncesPerDomain() throws {
        let r = try registry
        let a = try r.enqueue(domain: "med", strategy: "crma", totalSteps: 5, notBefore: 100)
        let b = try r.enqueue(domain: "med", strategy: "crma", totalSteps: 5, notBefore: 200)
        let c = try r.enqueue(domain: "law", strategy: "crma", totalSteps: 5, notBefore: 150)
        #expect(a == b)
        #expect(a != c)
        #expect(try r.nextReadyJob(now: 160)?.id == c)
        #expect(try r.nextReadyJob(now: 250)?.id == a)
        #expect(try r.nextQueuedStart() == 150)
        // Once started, new files of the domain make a new job.
        try r.transition(job: a, .start)
        #expect(try r.enqueue(domain: "med", strategy: "crma", totalSteps: 5, notBefore: 300) != a)
    }

    @Test func acceptMovesTheActivePointerRollbackDoesNot() throws {
        let r = try registry
        let j1 = try r.enqueue(domain: "med", strategy: "crma", totalSteps: 1, notBefore: 0)
        try r.transition(job: j1, .start)
        try r.transition(job: j1, .trained)
        let c2 = try r.conclude(job: j1, candidate: candidate(parent: 1, domain: "med", refs: ["med": 2]), accept: true, message: "ok")
        let v2 = c2.version
        #expect(c2 == .promoted(version: v2))
        #expect(try r.activeVersionID() == v2)
        #expect(try r.job(j1)?.state == .accepted)
        let j2 = try r.enqueue(domain: "law", strategy: "crma", totalSteps: 1, notBefore: 0)
        try r.transition(job: j2, .start)
        try r.transition(job: j2, .trained)
        let v3 = try r.conclude(job: j2, candidate: candidate(parent: v2, domain: "law", refs: ["med": 2]), accept: false, message: "drift").version
        #expect(try r.activeVersionID() == v2)
        #expect(try r.version(v3)?.state == "rolled_back")
        #expect(try r.job(j2)?.state == .rolledBack)
        #expect(try r.job(j2)?.versionID == v3)
        // A rolled-back version can never be activated; the base and accepted ones can.
        #expect(throws: RegistryError.notAccepted(v3)) { try r.activate(version: v3) }
        #expect(throws: RegistryError.noSuchVersion(99)) { try r.activate(version: 99) }
        try r.activate(version: 1)
        #expect(try r.activeVersionID() == 1)
    }

    /// A candidate whose evaluation is not finite (a NaN loss, the gate's `non_finite` reason) is stored as a
    /// rolled-back version like any other: JSON's default coding refused NaN, and the job failed instead.
    @Test func aNonFiniteEvaluationIsStoredAndReadBack() throws {
        let r = try registry
        let j = try r.enqueue(domain: "a", strategy: "crma", totalSteps: 1, notBefore: 0)
        try r.transition(job: j, .start)
        try r.transition(job: j, .trained)
        var v = candidate(parent: 1, domain: "a", refs: [:])
        v.losses = ["a": .nan]
        v.reasons = [
            GateReasonRecord(
                severity: .nonFinite, metric: .newDomainHoldout, value: .nan, reference: 2, degradationPercent: .nan,
                thresholdPercent: 0)
        ]
        let c = try r.conclude(job: j, candidate: v, accept: false, message: "rolled back")
        let stored = try #require(try r.version(c.version))
        #expect(stored.state == "rolled_back" && stored.losses["a"]?.isNaN == true)
        #expect(stored.reasons.first?.value.isNaN == true && stored.reasons.first?.severity == .nonFinite)
        #expect(try r.job(j)?.state == .rolledBack)
    }

    /// An operator's rollback while a job trains is never undone: the job's candidate, accepted by the
    /// gate on top of its parent, is concluded as stale and the active version stays the operator's.
    @Test func acceptIsCompareAndSwapOnTheParent() throws {
        let r = try registry
        let j1 = try r.enqueue(domain: "a", strategy: "crma", totalSteps: 1, notBefore: 0)
        try r.transition(job: j1, .start)
        try r.transition(job: j1, .trained)
        let v2 = try r.conclude(job: j1, candidate: candidate(parent: 1, domain: "a", refs: ["a": 2]), accept: true, message: "").version
        let j2 = try r.enqueue(domain: "b", strategy: "crma", totalSteps: 1, notBefore: 0)
        try r.transition(job: j2, .start)
        try r.activate(version: 1)  // the operator rolls back while b trains on version 2
        try r.transition(job: j2, .trained)
        let c3 = try r.conclude(job: j2, candidate: candidate(parent: v2, domain: "b", refs: ["a": 2]), accept: true, message: "ok")
        #expect(c3 == .stale(version: c3.version, active: 1))
        #expect(try r.activeVersionID() == 1)
        #expect(try r.version(c3.version)?.state == "rolled_back")
        #expect(try r.version(c3.version)?.reasons.first?.severity == .stale)
        #expect(try r.job(j2)?.state == .rolledBack)
        #expect(try r.job(j2)?.message?.contains("not promoted") == true)
    }

    /// What the slurm engine asks of the registry: a version's ancestry (a sibling's promotion or an
    /// operator's rollback), the next job of a domain without one in flight, and a job's Slurm job.
    @Test func ancestryTheNextJobOfAnIdleDomainAndTheClusterJob() throws {
        let r = try registry
        let j1 = try r.enqueue(domain: "a", strategy: "frozen", totalSteps: 1, notBefore: 0)
        let j2 = try r.enqueue(domain: "b", strategy: "frozen", totalSteps: 1, notBefore: 0)
        let j3 = try r.enqueue(domain: "c", strategy: "frozen", totalSteps: 1, notBefore: 0)
        #expect(try r.nextReadyJob(now: 1)?.id == j1)
        #expect(try r.nextReadyJob(now: 1, busy: ["a"])?.id == j2)
        #expect(try r.nextReadyJob(now: 1, busy: ["a", "b"])?.id == j3)
        #expect(try r.nextReadyJob(now: 1, busy: ["a", "b", "c"]) == nil)
        try r.transition(job: j1, .start)
        // Submissions: numbered before sbatch runs, the previous Slurm job forgotten, resubmissions counted.
        #expect(try r.clusterAttemptNumber(j1) == 0)
        #expect(try r.currentClusterSubmission(j1) == .init(attempt: 1, resubmissions: 0))
        #expect(try r.currentClusterSubmission(j1) == .init(attempt: 1, resubmissions: 0))
        try r.setClusterJob(j1, slurmID: "41")
        #expect(try r.job(j1)?.cluster == ClusterJob(id: "41", resubmissions: 0))
        #expect(try r.startClusterSubmission(j1, resubmissions: 1) == .init(attempt: 2, resubmissions: 1))
        #expect(try r.job(j1)?.cluster == nil && r.currentClusterSubmission(j1) == .init(attempt: 2, resubmissions: 1))
        try r.setClusterJob(j1, slurmID: "42")
        #expect(try r.job(j1)?.cluster == ClusterJob(id: "42", resubmissions: 1) && r.job(j2)?.cluster == nil)
        try r.transition(job: j1, .trained)
        // A rebase or retrain forgets the Slurm job in the same move.
        #expect(try r.moveJob(j1, from: .evaluating, to: .training, restarting: true))
        #expect(try r.job(j1)?.cluster == nil && r.clusterAttemptNumber(j1) == 2)
        try r.transition(job: j1, .trained)
        let v2 = try r.conclude(job: j1, candidate: candidate(parent: 1, domain: "a", refs: ["a": 2]), accept: true, message: "").version
        try r.transition(job: j2, .start)
        try r.transition(job: j2, .trained)
        let v3 = try r.conclude(job: j2, candidate: candidate(parent: v2, domain: "b", refs: ["a": 2, "b": 2]), accept: true, message: "").version
        #expect(try r.descends(v3, from: v2) && r.descends(v3, from: 1) && r.descends(v2, from: 1))
        #expect(try !r.descends(v2, from: v3) && !r.descends(1, from: 1) && !r.descends(v3, from: v3))
    }

    /// A retry with another strategy never merges into a queued job of the domain (it would silently run
    /// with the queued job's strategy).
    @Test func aQueuedJobIsOnlyMergedWithOneOfTheSameStrategy() throws {
        let r = try registry
        let a = try r.enqueue(domain: "med", strategy: "naive", totalSteps: 5, notBefore: 100)
        let b = try r.enqueue(domain: "med", strategy: "frozen", totalSteps: 5, notBefore: 100)
        #expect(a != b)
        #expect(try r.job(b)?.strategy == "frozen")
        #expect(try r.enqueue(domain: "med", strategy: "naive", totalSteps: 5, notBefore: 200) == a)
    }

    @Test func aConditionalTransitionChangesNothingOnceTheJobMovedOn() throws {
        let r = try registry
        let j = try r.enqueue(domain: "med", strategy: "crma", totalSteps: 1, notBefore: 0)
        try r.transition(job: j, .start)
        #expect(try r.transition(job: j, .cancel, ifStill: .queued) == nil)
        #expect(try r.job(j)?.state == .training)
        #expect(try r.transition(job: j, .cancel, ifStill: .training)?.state == .cancelled)
    }

    @Test func concludingAJobThatIsNotEvaluatingChangesNothing() throws {
        let r = try registry
        let j = try r.enqueue(domain: "med", strategy: "crma", totalSteps: 1, notBefore: 0)
        #expect(throws: JobControlError.movedMeanwhile(j, expected: .evaluating)) {
            try r.conclude(job: j, candidate: candidate(parent: 1, domain: "med", refs: [:]), accept: true, message: "")
        }
        #expect(try r.versions().count == 1)
        #expect(try r.activeVersionID() == 1)
    }

    @Test func aFileIsRecordedOnce() throws {
        let r = try registry
        let f = FileRecord(hash: "f1", domain: "med", name: "a.txt", bytes: 3, documents: 1, ingestedAt: 0)
        #expect(try r.recordFile(f, documents: [("d1", "train", "b1")]))
        #expect(try !r.recordFile(f, documents: [("d1", "train", "b1")]))
        #expect(try r.documentBlobs(domain: "med", role: "train") == ["b1"])
        #expect(try r.domains().map(\.name) == ["med"])
    }

    @Test func aFileIsRecordedOncePerDomain() throws {
        let r = try registry
        let med = FileRecord(hash: "f1", domain: "med", name: "a.txt", bytes: 3, documents: 1, ingestedAt: 0)
        var law = med
        law.domain = "law"
        #expect(try r.recordFile(med, documents: [("d1", "train", "b1")]))
        #expect(try r.recordFile(law, documents: [("d1", "holdout", "b1")]))
        #expect(try !r.recordFile(law, documents: [("d1", "holdout", "b1")]))
        #expect(try r.documentBlobs(domain: "med", role: "train") == ["b1"])
        #expect(try r.documentBlobs(domain: "law", role: "holdout") == ["b1"])
        #expect(try r.domains().map(\.name) == ["law", "med"])
    }

    @Test func filesStoredBeforeTheyWereKeptPerDomainSurviveTheMigration() throws {
        let path = "\(dir.path)/crmad.sqlite"
        let med = FileRecord(hash: "f1", domain: "med", name: "a.txt", bytes: 3, documents: 2, ingestedAt: 7)
        do {
            let old = try Registry(path: path, migratedUpTo: "v2: lineage")
            #expect(try old.recordFile(med, documents: [("d1", "train", "b1"), ("d2", "holdout", "b2")]))
        }
        let r = try Registry(path: path)
        #expect(try r.files() == [med])
        #expect(try r.documentBlobs(domain: "med", role: "train") == ["b1"])
        #expect(try r.documentBlobs(domain: "med", role: "holdout") == ["b2"])
        #expect(try r.hasFile("f1", domain: "med") && !r.hasFile("f1", domain: "law"))
        var law = med
        law.domain = "law"
        #expect(try r.recordFile(law, documents: [("d1", "train", "b1")]))
        #expect(try r.domains().map(\.name) == ["law", "med"])
    }

    @Test func alertsAreKeptNewestFirst() throws {
        let r = try registry
        for k in ["a", "b"] {
            try r.addAlert(AlertRecord(id: 0, time: 1, kind: k, priority: 4, message: k, domain: nil, version: nil, fields: ["x": k]))
        }
        #expect(try r.alerts().map(\.kind) == ["b", "a"])
        #expect(try r.alerts().first?.fields == ["x": "b"])
    }
}
