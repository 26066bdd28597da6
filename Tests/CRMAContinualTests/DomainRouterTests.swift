import CRMAAdapters
import CRMAModel
import CRMATestSupport
import CRMATraining
import Foundation
import Testing
@testable import CRMAContinual

/// The routing rule: the domain whose centroid is most similar to the request, if the similarity reaches the
/// minimum; else no domain (the base model answers). Centroids are computed when a domain is learned and
/// kept in the state's adapter file.
@Suite struct DomainRouterTests {
    @Test func theMostSimilarDomainWinsOnlyIfItReachesTheMinimum() {
        let s: [String: Float] = ["medical": 0.95, "legal": 0.7]
        #expect(DomainRouter.decide(similarities: s, minimum: 0.9).domain == "medical")
        #expect(DomainRouter.decide(similarities: s, minimum: 0.96).domain == nil)
        #expect(DomainRouter.decide(similarities: ["b": 0.9, "a": 0.9], minimum: 0).domain == "a")
        #expect(DomainRouter.decide(similarities: [:], minimum: 0).domain == nil)
    }

    /// On the tiny model: every update keeps its domain's centroid, the adapter file carries them, and each
    /// domain's own text is routed to it.
    @Test func eachDomainsTextGoesToItsOwnCentroidAndCentroidsAreSaved() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let state = try ContinualRun(model: lm.model, config: TinyDomains.config(.frozen)).run(domains).state
        #expect(Set(state.routing.keys) == Set(domains.map(\.name)))
        let path = NSTemporaryDirectory() + "routing-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try state.save(to: path)
        #expect(try LearnedState.load(path, model: lm.model).routing == state.routing)
        let router = DomainRouter(model: lm.model, minimumSimilarity: 0)
        for d in domains {
            let decision = try #require(router.route(Array(d.holdout[0].tokens.prefix(20)), centroids: state.routing))
            #expect(decision.domain == d.name, "\(d.name): \(decision.similarities)")
        }
    }
}
