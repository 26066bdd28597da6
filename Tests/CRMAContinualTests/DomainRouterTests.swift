import CRMAAdapters
import CRMAModel
import CRMANumerics
import CRMATestSupport
import CRMATraining
import Foundation
import CRMAWire
@testable import CRMABenchmark
import Testing
@testable import CRMAContinual

/// Routing: a classifier with a class per domain and one for "no domain", fitted from the routing examples
/// every update keeps in the state's adapter file; and, for states without examples, the centroid rule (the
/// most similar domain if the similarity reaches the minimum).
@Suite struct DomainRouterTests {
    @Test func theMostSimilarDomainWinsOnlyIfItReachesTheMinimum() {
        let s: [String: Float] = ["medical": 0.95, "legal": 0.7]
        #expect(DomainRouter.decide(similarities: s, minimum: 0.9).domain == "medical")
        #expect(DomainRouter.decide(similarities: s, minimum: 0.96).domain == nil)
        #expect(DomainRouter.decide(similarities: ["b": 0.9, "a": 0.9], minimum: 0).domain == "a")
        #expect(DomainRouter.decide(similarities: [:], minimum: 0).domain == nil)
    }

    /// Three overlapping clusters a nearest-centroid rule gets wrong on a third of the points (the clusters
    /// differ along one feature, and another feature with a large spread dominates the distances); the
    /// classifier standardizes the features and separates them.
    @Test func theClassifierSeparatesClassesThatDifferAlongOneFeature() {
        var rng = SeededRandom(seed: 7)
        func point(_ c: Int) -> [Float] {
            [Float(c) + 0.1 * Float(rng.normal()), 10 * Float(rng.normal()), Float(rng.normal())]
        }
        let classes = (0..<3).map { c in (0..<40).map { _ in point(c) } }
        let classifier = RoutingClassifier(examples: classes)
        var right = 0
        for c in 0..<3 { for _ in 0..<50 where classifier.classify(point(c)) == c { right += 1 } }
        #expect(right >= 145, "\(right) of 150")
        // The same examples give the same classifier.
        let again = RoutingClassifier(examples: classes)
        #expect(again.scores([1, 2, 3]) == classifier.scores([1, 2, 3]))
    }

    /// On the tiny model: every update keeps its domain's routing examples and centroid, the adapter file
    /// carries them, each domain's own text goes to it, and text unlike every domain goes to no domain.
    @Test func eachDomainsTextGoesToItsDomainAndOtherTextToTheBaseModel() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = TinyDomains.make(lm)
        let state = try ContinualRun(model: lm.model, config: TinyDomains.config(.frozen)).run(domains).state
        #expect(Set(state.routing.keys) == Set(domains.map(\.name)))
        #expect(Set(state.routingExamples.keys) == Set(domains.map(\.name)))
        let path = NSTemporaryDirectory() + "routing-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try state.save(to: path)
        let loaded = try LearnedState.load(path, model: lm.model)
        #expect(loaded.routing == state.routing && loaded.routingExamples == state.routingExamples)

        let general = (0..<12).map { "Weather report \($0): rain over the hills, \($0 * 3) mm by evening, wind from the west." }
        let router = DomainRouter(
            model: lm.model, centroids: loaded.routing, examples: loaded.routingExamples,
            general: RoutingCentroid.generalExamples(model: lm.model, tokenizer: lm.tokenizer, documents: general))
        #expect(router.method == .classifier)
        for d in domains {
            let decision = try #require(router.route(Array(d.holdout[0].tokens.prefix(20))))
            #expect(decision.domain == d.name, "\(d.name): \(decision.similarities)")
        }
        let weather = lm.tokenizer.encode("Weather report 40: rain over the hills, 120 mm by evening, wind from the west.")
        #expect(try #require(router.route(weather)).domain == nil)

        let centroid = DomainRouter(model: lm.model, centroids: loaded.routing, method: .centroid, minimumSimilarity: 0)
        #expect(centroid.method == .centroid)
        for d in domains {
            let decision = try #require(centroid.route(Array(d.holdout[0].tokens.prefix(20))))
            #expect(decision.domain == d.name, "\(d.name): \(decision.similarities)")
        }
    }

    /// A domain learned from text is asked with the beginning of such a text. Before, its routing examples
    /// were whole packed rows (three documents each) and the classifier sent "Patient 71 was given" to no
    /// domain on SmolLM2; its examples are now prefixes of each row's first document, and so are the "no
    /// domain" examples.
    @Test func theBeginningOfATextDomainsDocumentRoutesToIt() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let lm = try LanguageModel.load(path: root.appendingPathComponent(LanguageModel.defaultPath).path)
        let docs = (0..<60).map { "Patient \($0) was given \($0 % 4 + 1) mg of amoxicillin for otitis media." }
        let et = ExampleTokenizer(tokenizer: lm.tokenizer)
        let rows = SequencePacker(seqLen: 64, padToken: 0).pack(docs.map { et.tokenize(.text($0)) })
        let examples = RoutingCentroid.examples(model: lm.model, rows: rows)
        let general = [
            "The Battle of Hastings was fought on 14 October 1066 between the Norman-French army of William, the Duke of Normandy, and an English army.",
            "Photosynthesis is the process by which green plants use sunlight to synthesize foods from carbon dioxide and water.",
            "The Amazon River in South America is the largest river by discharge volume of water in the world.",
            "Johann Sebastian Bach was a German composer and musician of the late Baroque period.",
            "A volcano is a rupture in the crust of a planetary-mass object that allows hot lava and gases to escape.",
            "The stock market crash of 1929 began in late October and marked the start of the Great Depression.",
            "Basketball is a team sport in which two teams of five players oppose one another on a rectangular court.",
            "The Great Wall of China is a series of fortifications built across the historical northern borders of China.",
        ]
        let router = DomainRouter(
            model: lm.model, centroids: ["medical": RoutingCentroid.centroid(examples: examples, dimension: lm.model.config.hiddenSize)],
            examples: ["medical": examples],
            general: RoutingCentroid.generalExamples(model: lm.model, tokenizer: lm.tokenizer, documents: general))
        #expect(router.method == .classifier)
        for prompt in ["Patient 71 was given", "Patient 12 was given 3 mg of amoxicillin"] {
            #expect(router.route(lm.tokenizer.encode(prompt, addBOS: false))?.domain == "medical", "\(prompt)")
        }
        #expect(router.route(lm.tokenizer.encode("The capital of France is", addBOS: false))?.domain == nil)
    }
}
