import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation
import Synchronization

/// What a streamed completion reports, in order: the model that answers (after routing), text as it comes,
/// then the finished completion, or a failure.
public enum InferenceEvent: Sendable {
    case started(model: String)
    case text(String)
    case finished(TextCompletion)
    case failed(String)
}

/// Runs an ``InferencePlan`` under the compute turn (``ModelRequestScheduler``): the adapters its model names (`crma` routes the
/// request to a learned domain with ``DomainRouter``), then generation with a KV cache under them.
enum InferenceRunner {
    /// The adapters and the served model name (`crma:<domain>` once routed).
    static func adapters(_ plan: InferencePlan, lm: LanguageModel, active: ActiveAdapters, routingMinimum: Float) throws
        -> (String, AdapterSet)
    {
        try adapters(model: plan.model, routingText: plan.routingText, active: active, routingMinimum: routingMinimum)
    }

    /// The adapters `model` names (``InferenceModel``; `crma` routes on `routingText`) and the served model name.
    static func adapters(model: String, routingText: [Int32], active: ActiveAdapters, routingMinimum: Float) throws
        -> (String, AdapterSet)
    {
        switch model {
        case InferenceModel.base:
            return (model, AdapterSet())
        case InferenceModel.routed:
            // Nothing learned yet (or only before routing centroids were kept), or no domain claims the
            // request: the base model answers.
            guard let decision = try active.router(minimum: routingMinimum).route(routingText),
                let domain = decision.domain, let set = try active.adapters(forLearned: domain)
            else { return (InferenceModel.base, AdapterSet()) }
            return (InferenceModel.domainPrefix + domain, set)
        default:
            let domain = String(model.dropFirst(InferenceModel.domainPrefix.count))
            guard model.hasPrefix(InferenceModel.domainPrefix), let set = try active.adapters(forLearned: domain) else {
                throw InferencePlan.Refusal.unknownModel(model, known: try Self.models(active.domains()))
            }
            return (model, set)
        }
    }

    /// The model names served when the active version has learned `domains`.
    static func models(_ domains: [String]) -> [String] {
        [InferenceModel.base, InferenceModel.routed] + domains.map { InferenceModel.domainPrefix + $0 }
    }

    /// Generates the plan's completion; `onText` may stop it. `tokenBytes` is asked only for a plan that
    /// constrains its answer to JSON.
    static func run(
        _ plan: InferencePlan, lm: LanguageModel, active: ActiveAdapters, routingMinimum: Float,
        tokenBytes: () -> TokenByteTable,
        onModel: (String) -> Void = { _ in },
        onText: (String) -> GenerationControl = { _ in .more }
    ) throws -> (model: String, completion: TextCompletion) {
        let (model, set) = try adapters(plan, lm: lm, active: active, routingMinimum: routingMinimum)
        onModel(model)
        var c =
            plan.maxTokens == 0
            ? TextCompletion(
                text: "", promptTokens: plan.prompt.count, completionTokens: 0, finishReason: "length",
                logprobs: plan.logprobs == nil ? nil : [])
            : Generator(lm, adapters: set).complete(
                prompt: plan.prompt, maxTokens: plan.maxTokens, sampling: plan.sampling, stopTokens: plan.stopTokens,
                stopSequences: plan.stopSequences, logprobs: plan.logprobs,
                constraint: plan.schema.map { JSONConstraint(schema: $0, tokens: tokenBytes(), stopTokens: plan.stopTokens) },
                onText: onText)
        if plan.echo != nil, let k = plan.logprobs {
            // The prompt is scored by the path the gate and the benchmarks score with, so a client's
            // log-likelihoods are crma's own numbers.
            c.promptLogprobs = LlamaTrainingPass(model: lm.model, hooks: set).tokenLogProbs(plan.prompt, top: k)
        }
        return (model, c)
    }
}

extension Daemon {
    /// A greedy answer to `request.prompt` under the adapters its model names — by default `crma`: routed, as
    /// the inference API routes — with the name of the adapters that answered. Throws ``ModelQueueError`` or
    /// ``InferencePlan/Refusal``.
    public func generate(_ request: GenerateRequest, maxTokens: Int) async throws -> GenerateResponse {
        let minimum = Float(config.control.routingMinimumSimilarity)
        let model = request.model ?? InferenceModel.routed
        return try await scheduler.withModels { lm, active in
            let (served, set) = try InferenceRunner.adapters(
                model: model, routingText: lm.tokenizer.encode(request.prompt), active: active, routingMinimum: minimum)
            var answer = ModelQueries.generate(lm, adapters: set, prompt: request.prompt, maxTokens: maxTokens)
            answer.model = served
            return answer
        }
    }

    /// The inference API's model names now: `base`, `crma`, and `crma:<domain>` for each domain the active
    /// version has learned.
    public func servedModels() throws -> [String] {
        let id = try registry.activeVersionID()
        return InferenceRunner.models((try registry.version(id)?.references.keys).map { $0.sorted() } ?? [])
    }

    /// Runs `plan` to the end between training steps (ModelRequestScheduler) and returns the answering model's
    /// name and the completion. Throws ``ModelQueueError`` or ``InferencePlan/Refusal``.
    public func complete(_ plan: InferencePlan) async throws -> (model: String, completion: TextCompletion) {
        let minimum = Float(config.control.routingMinimumSimilarity)
        return try await scheduler.withModels { lm, active in
            try InferenceRunner.run(plan, lm: lm, active: active, routingMinimum: minimum, tokenBytes: self.tokenBytes)
        }
    }

    /// Queues `plan` and streams its events into `events` (then finishes it); a consumer that goes away
    /// stops generation at the next token. Throws ``ModelQueueError/full(_:)`` when it cannot queue.
    public func stream(_ plan: InferencePlan, into events: AsyncStream<InferenceEvent>.Continuation) throws {
        let flag = SendableFlag()
        events.onTermination = { _ in flag.set() }
        let minimum = Float(config.control.routingMinimumSimilarity)
        try scheduler.enqueue(
            { lm, active in
                do {
                    let (_, c) = try InferenceRunner.run(
                        plan, lm: lm, active: active, routingMinimum: minimum, tokenBytes: self.tokenBytes,
                        onModel: { events.yield(.started(model: $0)) },
                        onText: { text in
                            if flag.isSet { return .stop }
                            events.yield(.text(text))
                            return .more
                        })
                    events.yield(.finished(c))
                } catch {
                    events.yield(.failed("\(error)"))
                }
                events.finish()
            },
            expired: { error in
                events.yield(.failed("\(error)"))
                events.finish()
            })
    }
}

/// A one-way flag readable from any thread.
final class SendableFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
