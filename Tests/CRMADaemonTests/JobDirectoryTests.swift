import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMANumerics
import CRMATestSupport
import CRMATraining
import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

/// The job directory is the one contract between crmad and a worker (its own thread, or `crmad worker` on a
/// compute node): what crmad writes, a worker reads back exactly; what a worker makes, crmad judges; a
/// directory that is missing or corrupt is an error that names the file.
@Suite struct JobDirectoryTests {
    static func inputs(_ lm: LanguageModel, steps: Int = 4) -> (UpdateSpec, DomainUpdate.Job) {
        let et = ExampleTokenizer(tokenizer: lm.tokenizer)
        let rows = SequencePacker(seqLen: 32, padToken: 0).pack(
            (0..<12).map { et.tokenize(.text("\($0 * 7) plus \($0 * 3) equals \($0 * 10).")) })
        let earlier = LearnedDomain(name: "words", strategy: .frozen, holdout: Array(rows.suffix(2)), reference: 5.0)
        let job = DomainUpdate.Job(
            domain: DomainData(name: "numbers", train: rows, holdout: Array(rows.prefix(2))), earlier: [earlier], seed: 3)
        var settings = ContinualConfig()
        settings.strategy = .frozen
        settings.stepsPerDomain = steps
        settings.batchRows = 2
        settings.checkpointInterval = 1
        let spec = UpdateSpec(
            job: 7, domain: "numbers", parentVersion: 1, model: lm.path, base: "fp32", settings: settings,
            generalContext: 32, generalBase: nil, blasThreads: 0)
        return (spec, job)
    }

    @Test func aWorkerReadsWhatCrmadWroteAndCrmadJudgesWhatItMeasured() throws {
        let lm = try TinyModels.load("llama-f32")
        let tmp = TempDirectory("job-directory")
        let dir = JobDirectory("\(tmp.path)/jobs/7")
        let (spec, job) = Self.inputs(lm)
        try dir.writeInputs(spec: spec, job: job, general: GeneralSuite(), parentAdapters: nil)
        #expect(dir.hasInputs && dir.parentAdapters == nil)
        #expect(try dir.readSpec() == spec)
        var read = try dir.readJob()
        #expect(read.directory == dir.path)
        read.directory = nil
        #expect(read == job)

        let worker = try UpdateWorker(directory: dir, lm: lm)
        var seen: [Int] = []
        let trained = try worker.train(started: 0) { event in
            if case .progress(let p) = event { seen.append(p.step) }
            return .more
        }
        #expect(trained == .trained(TrainingRecord(steps: 4, stabilityStop: nil, parentVersion: 1)))
        #expect(seen == [1, 2, 3, 4] && dir.lastProgress()?.step == 4 && dir.lastProgress()?.domain == "numbers")
        // Trained once: a resubmitted worker finds the candidate and does not train again.
        #expect(try worker.train(started: 0) { _ in Issue.record("trained twice"); return .more } == trained)

        let m = try worker.measure(started: 0)
        #expect(dir.lastProgress()?.phase == "evaluating")
        #expect(try dir.readMeasurement() == WorkerMeasurement(parentVersion: 1, scores: m))
        #expect(m.earlier.keys.sorted() == ["words"])
        // The gate's decision is crmad's: the same measurement judged against crmad's thresholds.
        let update = DomainUpdate(model: lm.model, config: spec.settings)
        let strict = update.judge(m, job: job, generalLimits: GeneralLimits(), gate: GateThresholds(warn: 0, critical: 0))
        let lenient = update.judge(m, job: job, generalLimits: GeneralLimits(), gate: GateThresholds(warn: 1e6, critical: 1e6))
        #expect(strict.metrics == lenient.metrics && strict.metrics.map(\.reference) == [5.0])
        #expect(lenient.decision.action == .accept)
        let earlierDrifted = m.earlier["words"]!.mean > 5.0
        #expect((strict.decision.action == .accept) == !earlierDrifted)
    }

    @Test func aStoppedWorkerResumesFromItsCheckpointToTheSameCandidate() throws {
        let lm = try TinyModels.load("llama-f32")
        let tmp = TempDirectory("job-directory")
        let (spec, job) = Self.inputs(lm)
        let whole = JobDirectory("\(tmp.path)/whole"), halves = JobDirectory("\(tmp.path)/halves")
        for d in [whole, halves] { try d.writeInputs(spec: spec, job: job, general: GeneralSuite(), parentAdapters: nil) }
        _ = try UpdateWorker(directory: whole, lm: lm).train(started: 0) { _ in .more }
        let first = try UpdateWorker(directory: halves, lm: lm).train(started: 0) { event in
            if case .progress(let p) = event, p.step == 2 { return .stop }
            return .more
        }
        #expect(first == .stopped(step: 2))
        var resumedAt: Int?
        _ = try UpdateWorker(directory: halves, lm: lm).train(started: 0) { event in
            if case .started(let step, _) = event { resumedAt = step }
            return .more
        }
        #expect(resumedAt == 2)
        let a = try LearnedState.load(whole.candidate, model: lm.model)
        let b = try LearnedState.load(halves.candidate, model: lm.model)
        #expect(a.loras.keys.sorted() == ["numbers"] && b.loras.keys.sorted() == ["numbers"])
        let values = { (s: LearnedState) in s.loras["numbers"]!.parameters.map(\.value.array) }
        #expect(values(a) == values(b) && a.routing == b.routing)
    }

    /// crmad rebases a frozen job by writing new inputs (a new parent); the worker then places the trained
    /// LoRA onto that parent instead of training again, and measures anew (the old measurement is stale).
    @Test func aWorkerPlacesATrainedCandidateOntoTheNewParentOfARebasedJob() throws {
        let lm = try TinyModels.load("llama-f32")
        let tmp = TempDirectory("job-directory")
        let dir = JobDirectory("\(tmp.path)/jobs/7")
        var (spec, job) = Self.inputs(lm)
        try dir.writeInputs(spec: spec, job: job, general: GeneralSuite(), parentAdapters: nil)
        let worker = try UpdateWorker(directory: dir, lm: lm)
        _ = try worker.train(started: 0) { _ in .more }
        let before = try worker.measure(started: 0)
        let mine = try LearnedState.load(dir.candidate, model: lm.model)

        // A sibling's version 2 holds a trained LoRA of "words" (here: the values "numbers" learned); the job
        // is rebased onto it.
        let words = LoRA(name: "words", config: LoRAConfig(), model: lm.model.config, seed: 9)
        for (p, q) in zip(words.parameters, mine.loras["numbers"]!.parameters) {
            for i in 0..<p.value.count { p.value[i] = q.value[i] }
        }
        let sibling = LearnedState(loras: ["words": words])
        try sibling.save(to: "\(tmp.path)/v2.safetensors")
        dir.removeInputsAndMeasurement()
        spec.parentVersion = 2
        try dir.writeInputs(spec: spec, job: job, general: GeneralSuite(), parentAdapters: "\(tmp.path)/v2.safetensors")
        let rebasedWorker = try UpdateWorker(directory: dir, lm: lm)
        let again = try rebasedWorker.train(started: 0) { _ in Issue.record("trained again"); return .more }
        #expect(again == .trained(TrainingRecord(steps: 4, stabilityStop: nil, parentVersion: 2)))
        let rebased = try LearnedState.load(dir.candidate, model: lm.model)
        #expect(rebased.loras.keys.sorted() == ["numbers", "words"])
        let values = { (s: LearnedState, d: String) in s.loras[d]!.parameters.map(\.value.array) }
        #expect(values(rebased, "numbers") == values(mine, "numbers") && values(rebased, "words") == values(sibling, "words"))
        let after = try rebasedWorker.measure(started: 0)
        #expect(try dir.readMeasurement().parentVersion == 2)
        #expect(after.earlier["words"] != before.earlier["words"])  // "words" is scored with its own LoRA now

        // A candidate of a strategy that trains shared parameters cannot be placed onto another parent.
        spec.parentVersion = 3
        spec.settings.strategy = .crma
        dir.removeInputsAndMeasurement()
        try dir.writeInputs(spec: spec, job: job, general: GeneralSuite(), parentAdapters: nil)
        let refused = try #require(throws: JobDirectoryError.self) {
            try UpdateWorker(directory: dir, lm: lm).train(started: 0) { _ in .more }
        }
        #expect("\(refused)".contains("cannot be placed onto version 3"))
        #expect(throws: JobDirectoryError.self) { try UpdateWorker(directory: dir, lm: lm).measure(started: 0) }
    }

    @Test func aMissingOrCorruptDirectoryIsAnErrorThatNamesTheFile() throws {
        let lm = try TinyModels.load("llama-f32")
        let tmp = TempDirectory("job-directory")
        let dir = JobDirectory("\(tmp.path)/jobs/9")
        #expect(throws: JobDirectoryError.missing(dir.spec)) { try UpdateWorker(directory: dir, lm: lm) }
        let (spec, job) = Self.inputs(lm)
        try dir.writeInputs(spec: spec, job: job, general: GeneralSuite(), parentAdapters: nil)
        try Data("{\"domain\": ".utf8).write(to: URL(fileURLWithPath: dir.job))
        let corrupt = try #require(throws: JobDirectoryError.self) { try UpdateWorker(directory: dir, lm: lm) }
        #expect("\(corrupt)".contains("job.json"))
        var future = spec
        future.format = 99
        try JSONEncoder().encode(future).write(to: URL(fileURLWithPath: dir.spec))
        let format = try #require(throws: JobDirectoryError.self) { try dir.readSpec() }
        #expect("\(format)".contains("same crmad version"))
        try FileManager.default.removeItem(atPath: dir.path)
        #expect(throws: JobDirectoryError.self) { try UpdateWorker(directory: dir, lm: lm).measure(started: 0) }
    }
}

/// A frozen update's candidate placed onto another parent (the slurm engine's rebase): the other parent's
/// adapters, plus the domain's own LoRA and routing — nothing else of the candidate's parent.
@Suite struct RebaseTests {
    @Test func aFrozenCandidateKeepsOnlyItsOwnLoRAOnTheNewParent() throws {
        let lm = try TinyModels.load("llama-f32")
        let lora = { (name: String, seed: UInt64) in LoRA(name: name, config: LoRAConfig(), model: lm.model.config, seed: seed) }
        let oldParent = LearnedState(loras: ["medical": lora("medical", 1)])
        let candidate = oldParent.copy()
        candidate.loras["legal"] = lora("legal", 2)
        candidate.routing["legal"] = [1, 2]
        let newParent = LearnedState(loras: ["medical": lora("medical", 1), "finance": lora("finance", 3)])
        newParent.routing["finance"] = [3, 4]
        let rebased = try #require(candidate.rebased(onto: newParent, domain: "legal", strategy: .frozen))
        #expect(rebased.loras.keys.sorted() == ["finance", "legal", "medical"])
        #expect(rebased.routing == ["finance": [3, 4], "legal": [1, 2]])
        let values = { (s: LearnedState, d: String) in s.loras[d]!.parameters.map(\.value.array) }
        #expect(values(rebased, "legal") == values(candidate, "legal"))
        #expect(values(rebased, "finance") == values(newParent, "finance"))
        #expect(newParent.loras["legal"] == nil)  // the new parent is not changed
        for s in Strategy.allCases where s != .frozen {
            #expect(candidate.rebased(onto: newParent, domain: "legal", strategy: s) == nil)
        }
    }
}
