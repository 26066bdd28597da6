import CRMAAdapters
import CRMAModel
import CRMATraining
import CRMATestSupport
import Testing
@testable import CRMAContinual

/// The routing rule: the domain whose adapters give the request the lowest loss, if that is at least the
/// margin below the base model's; else no domain (the base model answers).
@Suite struct DomainRouterTests {
    @Test func theLowestLossWinsOnlyIfItBeatsTheBaseModelByTheMargin() {
        let losses = ["medical": 2.0, "legal": 2.5]
        #expect(DomainRouter.decide(losses: losses, order: ["medical", "legal"], baseLoss: 2.2, margin: 0).domain == "medical")
        #expect(DomainRouter.decide(losses: losses, order: ["medical", "legal"], baseLoss: 2.2, margin: 0.3).domain == nil)
        #expect(DomainRouter.decide(losses: losses, order: ["medical", "legal"], baseLoss: 1.9, margin: 0).domain == nil)
        // A tie goes to the first in order.
        #expect(DomainRouter.decide(losses: ["a": 1, "b": 1], order: ["b", "a"], baseLoss: 3, margin: 0).domain == "b")
    }

    /// On the tiny model, each domain's own training text is claimed by its own adapters.
    @Test func eachDomainsTextGoesToItsOwnAdapters() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let state = try ContinualRun(model: lm.model, config: TinyDomains.config(.frozen)).run(domains).state
        let candidates = domains.map { (name: $0.name, adapters: state.adapters(scoring: $0.name, learnedWith: .frozen)) }
        let router = DomainRouter(model: lm.model)
        for d in domains {
            let row = d.holdout[0]
            let decision = try #require(router.route(Array(row.tokens.prefix(20)), candidates: candidates))
            #expect(decision.domain == d.name, "\(d.name): \(decision.losses) base \(decision.baseLoss ?? .nan)")
        }
    }
}
