import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMATestSupport
import CRMAWire
import Foundation
import Logging
import Testing
@testable import CRMADaemon

/// The whole daemon in-process on the tiny model: real inbox, inotify, SQLite, blobs, worker thread.
/// Tests wait on the daemon's own event stream, never on sleeps. The time limit only guards against a hang:
/// a test that learns two domains takes about a minute alone and over three beside the other suites on two
/// cores (217 s measured, which failed the 2-minute limit this had), so it is no speed target.
@Suite(.serialized, .timeLimit(.minutes(10))) struct DaemonTests {
    static let lm = try! TinyModels.load("llama-f32.gguf")
    let dir = TempDirectory("daemon")

    func config(_ edit: (inout DaemonConfig) -> Void = { _ in }) -> DaemonConfig {
        var c = DaemonConfig()
        c.paths.stateDirectory = "\(dir.path)/state"
        c.paths.inbox = "\(dir.path)/inbox"
        c.paths.socket = "\(dir.path)/crmad.sock"
        c.model.path = "tiny"
        c.training.steps = 6
        c.training.epochs = 0
        c.training.batchRows = 2
        c.training.sequenceLength = 32
        c.training.checkpointInterval = 2
        c.adapter.loraRank = 4
        c.ingest.debounceSeconds = 0
        c.monitor.holdoutRows = 4
        c.monitor.benchmarks = ""
        edit(&c)
        return c
    }

    func daemon(_ c: DaemonConfig) throws -> Daemon {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try Daemon(config: c, lm: Self.lm, logger: logger)
    }

    /// The next event (decoded) for which `match` holds; nil when the stream ends first.
    func next(_ it: inout AsyncStream<String>.Iterator, _ match: ([String: Any]) -> Bool) async -> [String: Any]? {
        while let line = await it.next() {
            if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], match(o) { return o }
        }
        return nil
    }

    func alert(_ kind: String) -> ([String: Any]) -> Bool {
        { $0["event"] as? String == "alert" && $0["kind"] as? String == kind }
    }

    func stop(_ d: Daemon) async { await DaemonLifecycle.stop(d) }

    static let medical = documents(40) { "The patient in bed \($0) received \($0 % 5 + 1) doses of amoxicillin for otitis." }
    static let legal = documents(40) { "Clause \($0): the licensee shall not sublicense the software to party \($0 % 7)." }

    /// Starts `d` and has it learn medical (version 2), then legal (version 3).
    func learnMedicalThenLegal(_ d: Daemon) async throws {
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("update_accepted")) != nil)
        dir.drop("inbox/legal/b.jsonl", Self.legal)
        #expect(await next(&events, alert("update_accepted")) != nil)
    }

    @Test func learnsTwoDomainsAndKeepsEachLossAsItsReference() async throws {
        let d = try daemon(config())
        try await learnMedicalThenLegal(d)
        await stop(d)

        let r = d.registry
        let active = try r.activeVersion()
        #expect(active.id == 3)
        #expect(active.parentID == 2)
        #expect(Set(active.references.keys) == ["medical", "legal"])
        // medical's reference is its loss when learned (version 2); version 3 re-scored it.
        #expect(try active.references["medical"] == r.version(2)?.losses["medical"])
        #expect(active.losses["medical"] != nil)
        #expect(try r.jobs().map(\.state) == [.accepted, .accepted])
        #expect(throws: Never.self) { try d.blobs.get(active.adaptersHash!) }
        // The candidate holds both domains' LoRAs and the substrate.
        let (loras, crma) = try AdapterFile.load(d.blobs.path(active.adaptersHash!), model: Self.lm.model)
        #expect(Set(loras.map(\.name)) == ["medical", "legal"])
        #expect(crma != nil)
        #expect(dir.list("inbox/medical").isEmpty && dir.list("inbox/legal").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/state/jobs/1"))
    }

    func concluded(_ o: [String: Any]) -> Bool {
        o["event"] as? String == "job" && ["accepted", "rolled_back"].contains(o["state"] as? String ?? "")
    }

    /// Every strategy runs end to end in the daemon through the one update pipeline: two domains, each
    /// update concluded by the gate, the adapters of the strategy stored with each version, and the
    /// strategy recorded in the lineage of the domain it learned.
    @Test(arguments: Strategy.allCases)
    func everyStrategyLearnsTwoDomainsThroughThePipeline(_ strategy: Strategy) async throws {
        let d = try daemon(
            config {
                $0.training.strategy = strategy
                $0.training.lwfTeacher = .cached
            })
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("update_accepted")) != nil)
        dir.drop("inbox/legal/b.jsonl", Self.legal)
        #expect(await next(&events, concluded) != nil)
        await stop(d)
        let v2 = try #require(try d.registry.version(2))
        let v3 = try #require(try d.registry.version(3))
        #expect(v2.lineage["medical"]?.strategy == strategy.rawValue)
        #expect(v3.parentID == 2 && v3.losses["medical"] != nil && v3.losses["legal"] != nil)
        let state = try LearnedState.load(d.blobs.path(v3.adaptersHash!), model: Self.lm.model)
        let expected: Set<String> = strategy.perDomainLoRA ? ["medical", "legal"] : ["shared"]
        #expect(Set(state.loras.keys) == expected)
        #expect((state.crma != nil) == strategy.usesCRMA)
        // ewc's Fisher is stored with the version it was computed for; no other strategy has one.
        #expect(state.fisher.isEmpty == (strategy != .ewc))
        if strategy == .olora {
            #expect(state.adapters(scoring: "medical", learnedWith: .olora).loras.count == 2)
        }
    }

    @Test func anUpdateThatDidNotLearnIsRolledBackAndAlerted() async throws {
        // Learning rate 0 on the frozen strategy: the candidate equals the base model exactly, so the
        // new domain's loss is not below the base's and the gate must refuse it.
        let d = try daemon(
            config {
                $0.training.strategy = .frozen
                $0.training.loraLearningRate = 0
            })
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("rollback")) != nil)
        await stop(d)
        #expect(try d.registry.activeVersionID() == 1)
        let v = try #require(try d.registry.version(2))
        #expect(v.state == "rolled_back")
        #expect(v.reasons.map(\.severity) == [.notLearned])
        #expect(try d.registry.jobs().first?.state == .rolledBack)
        #expect(try d.registry.alerts().contains { $0.kind == "rollback" && $0.fields["message_id"] != nil })
    }

    @Test func retryFrozenRetrainsAfterARollback() async throws {
        let d = try daemon(
            config {
                $0.training.loraLearningRate = 0
                $0.monitor.onBreach = .retryFrozen
            })
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("rollback")) != nil)
        // The retry runs on the frozen strategy (still learning rate 0, so it is refused too).
        #expect(await next(&events, alert("rollback")) != nil)
        await stop(d)
        #expect(try d.registry.jobs().map(\.strategy) == ["frozen", "crma"])
    }

    /// A job that starts fresh (`.train(resume: false)`) does not pick up what a directory of its id holds —
    /// here the pinned documents of a job 1 from a registry that is gone, whose blobs do not exist.
    @Test func aFreshJobIgnoresALeftoverDirectoryOfItsID() async throws {
        let d = try daemon(config())
        try FileManager.default.createDirectory(atPath: "\(dir.path)/state/jobs/1", withIntermediateDirectories: true)
        try #"{"medical": {"train": ["0000"], "holdout": ["0001"]}}"#.write(
            toFile: "\(dir.path)/state/jobs/1/documents.json", atomically: true, encoding: .utf8)
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, concluded) != nil)
        await stop(d)
        #expect(try d.registry.jobs().first?.state == .accepted)
    }

    @Test func aStoppedJobResumesFromItsCheckpointNotFromStepZero() async throws {
        let c = config { $0.training.steps = 8 }
        let first = try daemon(c)
        var events = first.subscribe().makeAsyncIterator()
        try first.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        let progress: ([String: Any]) -> Bool = { $0["event"] as? String == "progress" }
        while let e = await next(&events, progress), let job = e["job"] as? [String: Any], job["step"] as? Int ?? 0 < 3 {}
        await stop(first)
        let interrupted = try #require(try first.registry.jobs().first)
        #expect(interrupted.state == .training)
        #expect(interrupted.step >= 3 && interrupted.step < 8)
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/state/jobs/1/checkpoint.safetensors"))

        let second = try daemon(c)
        var after = second.subscribe().makeAsyncIterator()
        try second.start()
        let resumed = await next(&after, progress)?["job"] as? [String: Any]
        #expect(resumed?["step"] as? Int == interrupted.step + 1)
        #expect(await next(&after, alert("update_accepted")) != nil)
        await stop(second)
        #expect(try second.registry.jobs().map(\.state) == [.accepted])
    }

    @Test func cancellingARunningJobLeavesTheActiveVersion() async throws {
        let d = try daemon(config { $0.training.steps = 50 })
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        _ = await next(&events) { $0["event"] as? String == "progress" }
        #expect(try d.cancel(job: 1) == .training)
        #expect(await next(&events) { $0["event"] as? String == "job" && $0["state"] as? String == "cancelled" } != nil)
        await stop(d)
        #expect(try d.registry.job(1)?.state == .cancelled)
        #expect(try d.registry.activeVersionID() == 1)
        #expect(throws: JobControlError.self) { try d.cancel(job: 1) }
    }

    static let noise = documents(40) { "zq xv kw \($0) jj pp qq zz 9 8 7 ## @@ !! \($0 * 7)" }

    @Test func theStabilityCheckStopsAForgettingUpdateEarlyAndTheGateRollsItBack() async throws {
        // The shared LoRA at a high learning rate: learning the noise domain wrecks medical.
        let d = try daemon(
            config {
                $0.training.strategy = .naive
                $0.training.loraLearningRate = 0.05
                $0.training.steps = 12
                $0.monitor.checkInterval = 2
            })
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("update_accepted")) != nil)
        dir.drop("inbox/noise/n.jsonl", Self.noise)
        let early = await next(&events, alert("drift_critical"))
        #expect((early?["message"] as? String)?.contains("stability check stopped the update of noise") == true)
        #expect(await next(&events, alert("rollback")) != nil)
        await stop(d)
        let job = try #require(try d.registry.jobs().first)
        #expect(job.domain == "noise" && job.state == .rolledBack)
        #expect(job.step < 12)
        #expect(try d.registry.activeVersionID() == 2)
    }

    @Test func epochsSetTheStepsFromTheData() async throws {
        let d = try daemon(config { $0.training.epochs = 0.5 })
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("update_accepted")) != nil)
        await stop(d)
        let job = try #require(try d.registry.jobs().first)
        let rows = try StoredDomain.load(
            domain: "medical", registry: d.registry, blobs: d.blobs, tokenizer: Self.lm.tokenizer, sequenceLength: 32,
            holdoutRows: 4
        ).data.train.count
        #expect(job.totalSteps == Int((Double(rows) * 0.5 / 2).rounded(.up)))
        #expect(job.step == job.totalSteps)
    }

    static let moreMedical = documents(60) { "Case \($0 + 100): a child with fever was given paracetamol \($0 % 4 + 1) times." }

    /// A later file of a learned domain changes its current holdout, but never the rows its stored
    /// reference is compared with: the gate reads the rows pinned when the domain was learned.
    @Test func anEarlierDomainIsJudgedOnTheRowsItWasLearnedOn() async throws {
        let d = try daemon(config())
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("update_accepted")) != nil)
        try d.pause()
        dir.drop("inbox/medical/b.jsonl", Self.moreMedical)
        _ = await next(&events) { $0["event"] as? String == "job_queued" }
        let v2 = try #require(try d.registry.version(2))
        let pinned = try StoredDomain.pinnedRows(try #require(v2.lineage["medical"]), blobs: d.blobs)
        let current = try StoredDomain.load(
            domain: "medical", registry: d.registry, blobs: d.blobs, tokenizer: Self.lm.tokenizer, sequenceLength: 32,
            holdoutRows: 4
        ).data.holdout
        try #require(current != pinned, "the second file must change the current holdout for this test to mean anything")
        // What the next update of any domain is judged on.
        let job = try #require(try d.registry.jobs().first { $0.state == .queued })
        let inputs = try d.updateInputs(job: job, parent: v2, strategy: .crma)
        let medical = try #require(inputs.job.earlier.first { $0.name == "medical" })
        #expect(medical.holdout == pinned && medical.reference == v2.references["medical"])
        await stop(d)
    }

    /// A job's documents are fixed when it starts: files ingested while it trains (or before it resumes
    /// from a checkpoint) never change the rows its data cursor and schedule refer to. Before, a resumed
    /// job re-read the domain and continued its cursor into a different set of rows.
    @Test func aJobReadsTheDocumentsItStartedWith() async throws {
        let d = try daemon(config())
        var events = d.subscribe().makeAsyncIterator()
        try d.pause()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        _ = await next(&events) { $0["event"] as? String == "job_queued" }
        let job = try #require(try d.registry.jobs().first)
        let base = try #require(try d.registry.version(1))
        let first = try d.updateInputs(job: job, parent: base, strategy: .crma)
        dir.drop("inbox/medical/b.jsonl", Self.moreMedical)
        _ = await next(&events) { $0["event"] as? String == "job_queued" }
        let now = try StoredDomain.load(
            domain: "medical", registry: d.registry, blobs: d.blobs, tokenizer: Self.lm.tokenizer, sequenceLength: 32,
            holdoutRows: 4)
        try #require(now.data.train.count > first.job.domain.train.count, "the second file must add training rows")
        let again = try d.updateInputs(job: job, parent: base, strategy: .crma)
        #expect(again.job.domain.train == first.job.domain.train)
        #expect(again.job.domain.holdout == first.job.domain.holdout)
        await stop(d)
    }

    /// retry-frozen after a naive rollback: the naive domain is scored with the shared LoRA it was learned
    /// with (before, the frozen retry scored it with a LoRA named after it, i.e. the base model, and saw
    /// it forget), so the retry is judged on what it really changes.
    @Test func aFrozenRetryScoresANaiveDomainWithTheSharedLoRA() async throws {
        let d = try daemon(
            config {
                $0.training.strategy = .naive
                $0.training.loraLearningRate = 0.05
                $0.training.steps = 12
                $0.monitor.onBreach = .retryFrozen
            })
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("update_accepted")) != nil)
        dir.drop("inbox/noise/n.jsonl", Self.noise)
        #expect(await next(&events, alert("rollback")) != nil)
        #expect(await next(&events, concluded) != nil)
        await stop(d)
        let jobs = try d.registry.jobs().sorted { $0.id < $1.id }
        #expect(jobs.map(\.strategy) == ["naive", "naive", "frozen"])
        let retryVersion = try #require(jobs[2].versionID)
        let retry = try #require(try d.registry.version(retryVersion))
        let v2 = try #require(try d.registry.version(2))
        // frozen leaves the shared LoRA alone: medical scores exactly its reference.
        #expect(retry.losses["medical"] == v2.references["medical"])
        #expect(!retry.reasons.contains { $0.metric == "holdout:medical" })
    }

    @Test func manualRollbackAndPause() async throws {
        let d = try daemon(config())
        var events = d.subscribe().makeAsyncIterator()
        try d.start()
        dir.drop("inbox/medical/a.jsonl", Self.medical)
        #expect(await next(&events, alert("update_accepted")) != nil)
        try d.rollback(to: 1)
        #expect(try d.registry.activeVersionID() == 1)
        try d.pause()
        #expect(d.status().paused)
        #expect(throws: JobControlError.noSuchDomain("nope")) { try d.retry(domain: "nope", strategy: .crma) }
        await stop(d)
    }
}
