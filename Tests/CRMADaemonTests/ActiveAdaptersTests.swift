import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMATestSupport
import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

/// What model requests are served with: the active version's adapters as its lineage scores its domain,
/// and never silently the base model. Versions are written by hand; the worker is not started.
@Suite struct ActiveAdaptersTests {
    static let lm = try! TinyModels.load("llama-f32.gguf")
    let dir = TempDirectory("active")

    func daemon() throws -> Daemon { try dir.idleDaemon(Self.lm) }

    /// Makes `blob` (an adapter file's hash) the active version 2, learned with `strategy`.
    func activate(_ d: Daemon, blob: String, domain: String, strategy: Strategy) throws {
        let id = try d.registry.enqueue(domain: domain, strategy: strategy.rawValue, totalSteps: 1, notBefore: 0)
        try d.registry.transition(job: id, .start)
        try d.registry.transition(job: id, .trained)
        let lineage = DomainLineage(
            strategy: strategy.rawValue, reference: 1, holdoutRows: "", holdoutDocuments: [], sequenceLength: 32)
        let v = VersionRecord(
            id: 0, parentID: 1, domain: domain, jobID: id, state: "", adaptersHash: blob, configHash: "",
            dataHashes: [], references: [domain: 1], losses: [:], general: [:], reasons: [], createdAt: 0,
            active: false, lineage: [domain: lineage])
        #expect(try d.registry.conclude(job: id, candidate: v, accept: true, message: "") == .promoted(version: 2))
    }

    /// Before, a blob that could not be loaded was served as the base model without a word.
    @Test func anActiveAdapterFileThatCannotBeLoadedIsAnAlertAndARefusal() throws {
        let d = try daemon()
        try activate(d, blob: try d.blobs.put(Data("not a safetensors file".utf8)), domain: "medical", strategy: .crma)
        #expect(throws: ActiveVersionError.self) { try d.scheduler.adapters.current() }
        #expect(try d.registry.alerts().contains { $0.kind == "job_failed" && $0.message.contains("cannot be loaded") })
    }

    /// olora was gated with every LoRA summed; it is served the same way.
    @Test func oloraIsServedWithTheSummedLoRAsItWasGatedWith() throws {
        let d = try daemon()
        let loras = ["law", "medical"].map {
            LoRA(name: $0, config: LoRAConfig(rank: 2, targets: [.q]), model: Self.lm.model.config, seed: 1)
        }
        let path = "\(dir.path)/olora.safetensors"
        try LearnedState(loras: Dictionary(uniqueKeysWithValues: loras.map { ($0.name, $0) })).save(to: path)
        try activate(
            d, blob: try d.blobs.put(try Data(contentsOf: URL(fileURLWithPath: path))), domain: "medical",
            strategy: .olora)
        #expect(try d.scheduler.adapters.current().loras.map(\.name) == ["law", "medical"])
    }

    /// `model: "crma"` routes with a classifier when the active version kept routing examples and the daemon
    /// knows text that belongs to no domain (its general benchmarks' documents); without such text, by the
    /// centroid rule.
    @Test func routesWithTheClassifierWhenItKnowsTextOfNoDomain() throws {
        let d = try daemon()
        let tok = Self.lm.tokenizer, model = Self.lm.model
        let medical = (0..<16).map { "Patient \($0) was given \($0 % 5 + 1) mg of drug X for fever; dose raised on day \($0 % 3)." }
        let general = (0..<16).map { "Weather report \($0): rain over the hills, \($0 * 3) mm by evening, wind from the west." }
        let examples = RoutingCentroid.generalExamples(model: model, tokenizer: tok, documents: medical)
        let state = LearnedState(
            routing: ["medical": RoutingCentroid.centroid(examples: examples, dimension: model.config.hiddenSize)],
            routingExamples: ["medical": examples])
        let path = "\(dir.path)/routed.safetensors"
        try state.save(to: path)
        try activate(
            d, blob: try d.blobs.put(try Data(contentsOf: URL(fileURLWithPath: path))), domain: "medical",
            strategy: .crma)
        let active = ActiveAdapters(
            registry: d.registry, blobs: d.blobs, lm: Self.lm, defaultStrategy: .crma, alerts: d.scheduler.adapters.alerts,
            generalDocuments: general)
        let router = try active.router(minimum: 0.85)
        #expect(router.method == .classifier)
        #expect(router.route(tok.encode("Patient 40 was given 2 mg of drug X for fever; dose raised on day 1."))?.domain == "medical")
        #expect(router.route(tok.encode("Weather report 40: rain over the hills, 120 mm by evening, wind from the west."))?.domain == nil)
        #expect(try d.scheduler.adapters.router(minimum: 0.85).method == .centroid)
    }
}
