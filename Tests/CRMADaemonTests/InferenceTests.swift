import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation
import Logging
import Testing
@testable import CRMADaemon

/// The OpenAI-compatible inference API through the daemon: model names, each domain's adapters, routing,
/// streaming, and the queue's limits.
extension DaemonTests {
    func chat(_ model: String, _ text: String, maxTokens: Int = 6, stop: [String]? = nil, stream: Bool = false) throws
        -> InferencePlan
    {
        try InferencePlan.chat(
            ChatCompletionRequest(
                model: model, messages: [.init(role: "user", content: text)],
                sampling: SamplingFields(maxTokens: maxTokens, temperature: 0, stop: stop, stream: stream)),
            tokenizer: Self.lm.tokenizer, generator: Generator(Self.lm), maxTokensLimit: 64, contextLength: 2048)
    }

    @Test func servesEachLearnedDomainsAdaptersTheBaseModelAndRoutes() async throws {
        // The tiny random model's hidden states are alike for any text: route on the nearest centroid alone.
        let d = try daemon(config { $0.control.routingMinimumSimilarity = -1 })
        #expect(try d.servedModels() == ["base", "crma"])
        try await learnMedicalThenLegal(d)
        #expect(try d.servedModels() == ["base", "crma", "crma:legal", "crma:medical"])

        // crma:<domain> answers with that domain's adapters, exactly as generating with them directly does.
        let state = try LearnedState.load(d.blobs.path(try d.registry.activeVersion().adaptersHash!), model: Self.lm.model)
        for domain in ["medical", "legal"] {
            let (model, c) = try await d.complete(try chat("crma:\(domain)", "The patient"))
            let set = state.adapters(scoring: domain, learnedWith: .crma)
            let g = Generator(Self.lm, adapters: set)
            let direct = g.generate(prompt: g.chatPrompt([ChatMessage(role: "user", content: "The patient")]).prompt, maxTokens: 6)
            #expect(model == "crma:\(domain)" && c.completionTokens == direct.tokens.count)
            #expect(c.text == Self.lm.tokenizer.decode(direct.tokens, skipSpecial: true))
        }
        // crma answers with the domain the router picks from the version's routing examples and centroids
        // (each update keeps its domain's). This daemon has no general benchmarks, so no examples of text
        // that belongs to no domain: it routes by the centroid rule.
        #expect(Set(state.routing.keys) == ["medical", "legal"] && Set(state.routingExamples.keys) == ["medical", "legal"])
        let router = DomainRouter(
            model: Self.lm.model, centroids: state.routing, examples: state.routingExamples, minimumSimilarity: -1)
        #expect(router.method == .centroid)
        for text in [Self.medical.components(separatedBy: "\n")[3], Self.legal.components(separatedBy: "\n")[3]] {
            let expected = router.route(Self.lm.tokenizer.encode(text, addBOS: false))!.domain!
            let (routed, _) = try await d.complete(try chat("crma", text))
            #expect(routed == "crma:\(expected)")
        }

        // A model the daemon does not serve is refused with the list of those it does.
        await #expect(throws: InferencePlan.Refusal.unknownModel("crma:code", known: try d.servedModels())) {
            try await d.complete(try chat("crma:code", "x"))
        }
        await stop(d)
    }

    @Test func streamsTheTextItReturnsWholeAndStopsAtAStopSequence() async throws {
        let d = try daemon(config())
        try d.start()
        let (_, whole) = try await d.complete(try chat("base", "Hello", maxTokens: 12))
        let (events, continuation) = AsyncStream<InferenceEvent>.makeStream()
        try d.stream(try chat("base", "Hello", maxTokens: 12, stream: true), into: continuation)
        var text = "", finished: TextCompletion?, started: String?
        for await e in events {
            switch e {
            case .started(let m): started = m
            case .text(let t): text += t
            case .finished(let c): finished = c
            case .failed(let m): Issue.record("failed: \(m)")
            }
        }
        #expect(started == "base" && finished == whole && text == whole.text)
        // A stop sequence taken from the middle of that text ends the completion before it.
        let chars = Array(whole.text)
        try #require(chars.count >= 4, "the tiny model's reply: \(whole.text)")
        let sequence = String(chars[2..<4])
        let (_, cut) = try await d.complete(try chat("base", "Hello", maxTokens: 12, stop: [sequence]))
        #expect(cut.finishReason == "stop" && cut.text == String(whole.text[..<whole.text.range(of: sequence)!.lowerBound]))
        await stop(d)
    }

    @Test func refusesWhatItCannotServeAsAsked() throws {
        func plan(_ f: SamplingFields) throws -> InferencePlan {
            try InferencePlan.completions(
                CompletionRequest(model: "base", prompt: "Hi", sampling: f), tokenizer: Self.lm.tokenizer, maxTokensLimit: 64,
                contextLength: 2048)[0]
        }
        #expect(try plan(SamplingFields()).maxTokens == 16)
        #expect(
            throws: InferencePlan.Refusal.badRequest(
                "max_tokens must be 1...64 (control.max_completion_tokens; 0, to score the prompt only, with echo)")
        ) {
            try plan(SamplingFields(maxTokens: 65))
        }
        #expect(throws: InferencePlan.Refusal.self) { try plan(SamplingFields(maxTokens: 0)) }
        #expect(throws: InferencePlan.Refusal.self) { try plan(SamplingFields(temperature: 3)) }
        #expect(throws: InferencePlan.Refusal.self) { try plan(SamplingFields(topP: 0)) }
        #expect(throws: InferencePlan.Refusal.self) { try plan(SamplingFields(stop: (0...16).map { "s\($0)" })) }
        #expect(throws: Never.self) { try plan(SamplingFields(stop: (0..<16).map { "s\($0)" })) }
        let body = #"{"model": "base", "prompt": []}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CompletionRequest.self, from: Data(body.utf8)) }
        let chatBody = #"{"model": "crma", "messages": [{"role": "user", "content": "x"}], "stop": "\n", "max_tokens": 5, "stream": true, "stream_options": {"include_usage": true}}"#
        let r = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(chatBody.utf8))
        #expect(r.sampling.stop?.values == ["\n"] && r.sampling.maxTokens == 5 && r.sampling.streamOptions?.includeUsage == true)
    }

    /// What many clients send as a message — a list of text parts — is read as its text; anything else
    /// in the list is refused by name.
    @Test func messageContentMayBeAListOfTextParts() throws {
        func decode(_ content: String) throws -> ChatCompletionRequest {
            try JSONDecoder().decode(
                ChatCompletionRequest.self,
                from: Data(#"{"model": "base", "messages": [{"role": "user", "content": \#(content)}]}"#.utf8))
        }
        #expect(try decode(#"[{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]"#).messages[0].content == "Hello\nthere")
        #expect(try decode(#""Hello""#).messages[0].content == "Hello")
        #expect(throws: DecodingError.self) {
            try decode(#"[{"type": "image_url", "image_url": {"url": "data:,"}}]"#)
        }
    }

    /// A client asking for tools, or a schema keyword outside the subset enforced, gets a 400 that names it.
    @Test func toolsAndResponseFormatsAreRefusedNotIgnored() throws {
        func plan(_ extra: String) throws -> InferencePlan {
            let body = #"{"model": "base", "messages": [{"role": "user", "content": "x"}], \#(extra)}"#
            let r = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body.utf8))
            return try InferencePlan.chat(
                r, tokenizer: Self.lm.tokenizer, generator: Generator(Self.lm), maxTokensLimit: 64, contextLength: 2048)
        }
        for (extra, field) in [
            (#""tools": [{"type": "function", "function": {"name": "f"}}]"#, "tools"),
            (#""tool_choice": "auto""#, "tool_choice"),
            (#""functions": []"#, "functions"),
        ] {
            #expect(performing: { try plan(extra) }, throws: { error in
                guard case InferencePlan.Refusal.badRequest(let m) = error else { return false }
                return m.hasPrefix(field + " is not supported")
            })
        }
        #expect(throws: Never.self) { try plan(#""response_format": {"type": "text"}"#) }
        #expect(try plan(#""response_format": {"type": "json_object"}"#).schema == .anyObject)
        // A schema keyword outside the enforced subset is named, never ignored.
        #expect(
            throws: InferencePlan.Refusal.badRequest(
                "response_format.json_schema.schema: pattern: not supported by crmad's constrained decoding (docs/daemon.md)")
        ) {
            try plan(#""response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "string", "pattern": "a+"}}}"#)
        }
        #expect(throws: InferencePlan.Refusal.self) { try plan(#""response_format": {"type": "yaml"}"#) }
        #expect(throws: Never.self) { try plan(#""tools": null"#) }
        // Log-probabilities are answered whole, in chat as in text completions (one check for both).
        #expect(throws: InferencePlan.Refusal.badRequest("logprobs are not streamed; send stream: false")) {
            try plan(#""logprobs": true, "stream": true"#)
        }
    }

    /// `additionalProperties: false` means no other keys, also when there are no properties (only `{}`);
    /// absent, it means none besides the properties, and any keys for an object that declares none.
    @Test func additionalPropertiesFalseAllowsNoOtherKey() throws {
        func schema(_ object: String) throws -> JSONSchema? {
            let body = #"{"model": "base", "messages": [{"role": "user", "content": "x"}], "response_format": "#
                + #"{"type": "json_schema", "json_schema": {"name": "s", "schema": \#(object)}}}"#
            let r = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body.utf8))
            return try InferencePlan.chat(
                r, tokenizer: Self.lm.tokenizer, generator: Generator(Self.lm), maxTokensLimit: 64, contextLength: 2048
            ).schema
        }
        let a = JSONSchema.string(minLength: 0, maxLength: nil, format: nil)
        #expect(try schema(#"{"type": "object", "additionalProperties": false}"#)
            == .object(properties: [:], required: [], additional: nil))
        #expect(try schema(#"{"type": "object"}"#) == .anyObject)
        #expect(try schema(#"{"type": "object", "properties": {"a": {"type": "string"}}}"#)
            == .object(properties: ["a": a], required: [], additional: nil))
        #expect(try schema(#"{"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": true}"#)
            == .object(properties: ["a": a], required: [], additional: .any))
    }
}

/// The bounded queue of model requests: one more than it holds is refused, and one that waited past the
/// deadline is answered with an error instead of being served late.
@Suite struct ModelRequestQueueTests {
    @Test func refusesWhenFullAndExpiresWhatWaitedTooLong() throws {
        let q = ModelRequestQueue(capacity: 2, deadline: 10)
        let served = SendableCounter(), expired = SendableCounter()
        for _ in 0..<2 { try q.append({ _, _ in served.add() }, expired: { _ in expired.add() }) }
        #expect(throws: ModelQueueError.full(2)) { try q.append({ _, _ in }, expired: { _ in }) }
        let lm = DaemonTests.lm
        let dir = TempDirectory("queue")
        let registry = try Registry(path: "\(dir.path)/r.sqlite")
        let active = ActiveAdapters(
            registry: registry, blobs: try BlobStore(root: "\(dir.path)/blobs"), lm: lm, defaultStrategy: .crma,
            alerts: AlertSink(logger: .init(label: "t"), registry: registry, events: EventHub()))
        q.serve(lm, adapters: active, now: { Date().addingTimeInterval(11) })
        #expect(served.value == 0 && expired.value == 2 && q.isEmpty)
        try q.append({ _, _ in served.add() }, expired: { _ in expired.add() })
        q.serve(lm, adapters: active)
        #expect(served.value == 1 && expired.value == 2)
    }
}

final class SendableCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
