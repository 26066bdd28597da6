import CRMADaemon
import CRMAModel
import CRMAWire
import Foundation
import Hummingbird
import NIOCore

/// The OpenAI-compatible inference API — `GET /v1/models`, `POST /v1/chat/completions`,
/// `POST /v1/completions` (streamed as server-sent events with `"stream": true`) — and vLLM's tokenizer
/// endpoints (`GET /tokenizer_info`, `POST /tokenize`, `POST /detokenize`, at the root as vLLM serves them),
/// on the control socket and, when configured, the TCP listener. Nothing here changes state.
enum InferenceRoutes {
    static func addTokenizer<Context: RequestContext>(to router: Router<Context>, api d: any ControlAPI) {
        router.get("tokenizer_info") { _, _ in try ControlServer.json(d.tokenizerInfo()) }
        router.post("tokenize") { req, ctx in
            try ControlServer.json(try d.tokenize(try await req.decode(as: TokenizeRequest.self, context: ctx)))
        }
        router.post("detokenize") { req, ctx in
            try ControlServer.json(try d.detokenize(try await req.decode(as: DetokenizeRequest.self, context: ctx)))
        }
    }

    static func add<Context: RequestContext>(to v1: RouterGroup<Context>, api d: any ControlAPI) {
        v1.get("models") { _, _ in
            let created = Int(d.started.timeIntervalSince1970)
            return try ControlServer.json(ModelList(data: try d.servedModels().map { .init(id: $0, created: created) }))
        }
        v1.post("chat/completions") { req, ctx in
            let r = try await req.decode(as: ChatCompletionRequest.self, context: ctx)
            let plan = try d.plan(r)
            return try await respond([plan], daemon: d, kind: .chat)
        }
        v1.post("completions") { req, ctx in
            let r = try await req.decode(as: CompletionRequest.self, context: ctx)
            return try await respond(try d.plan(r), daemon: d, kind: .text)
        }
    }

    enum Kind { case chat, text }

    /// Answers `plans` (several only for a text completion's list of prompts, never streamed) in order.
    static func respond(_ plans: [InferencePlan], daemon d: any ControlAPI, kind: Kind) async throws -> Response {
        let plan = plans[0]
        let known = try d.servedModels()
        guard known.contains(plan.model) else { throw InferencePlan.Refusal.unknownModel(plan.model, known: known) }
        let chunks = ResponseChunks(
            id: (kind == .chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased(),
            created: Int(Date().timeIntervalSince1970), kind: kind, includeUsage: plan.includeUsageInStream)
        guard plan.stream else {
            var answers: [ResponseChunks.Answer] = []
            var model = plan.model
            for p in plans {
                let (served, c) = try await d.complete(p)
                model = served
                answers.append(
                    .init(
                        completion: c, echo: p.echo,
                        textLogprobs: kind == .text ? d.completionLogprobs(c, plan: p) : nil,
                        chatLogprobs: kind == .chat ? d.chatLogprobs(c) : nil))
            }
            return try ControlServer.json(chunks.whole(model: model, answers))
        }
        let (events, continuation) = AsyncStream<InferenceEvent>.makeStream()
        try d.stream(plan, into: continuation)
        let body = ResponseBody(asyncSequence: events.map { chunks.sse($0) }.filter { !$0.isEmpty }.map { ByteBuffer(string: $0) })
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

/// The JSON of one response, whole or as streamed chunks (`data: {…}` lines, `data: [DONE]` last).
struct ResponseChunks: Sendable {
    let id: String
    let created: Int
    let kind: InferenceRoutes.Kind
    let includeUsage: Bool
    /// The routed model's name, known once generation starts.
    private let model = ModelName()

    init(id: String, created: Int, kind: InferenceRoutes.Kind, includeUsage: Bool) {
        self.id = id
        self.created = created
        self.kind = kind
        self.includeUsage = includeUsage
    }

    final class ModelName: @unchecked Sendable {
        // Written by the first event, read by the later ones, all of one stream in order.
        var value = ""
    }

    /// One prompt's answer, with its log-probabilities when asked for.
    struct Answer {
        var completion: TextCompletion
        /// The prompt's text, put before the completion (`echo`).
        var echo: String?
        var textLogprobs: CompletionLogprobs?
        var chatLogprobs: ChatLogprobs?
    }

    /// The whole response: one choice per answer, `index` in order; usage summed over them.
    func whole(model: String, _ answers: [Answer]) -> AnyEncodable {
        let usage = Usage(
            promptTokens: answers.map(\.completion.promptTokens).reduce(0, +),
            completionTokens: answers.map(\.completion.completionTokens).reduce(0, +))
        func finish(_ c: TextCompletion) -> String { c.finishReason == "cancelled" ? "stop" : c.finishReason }
        switch kind {
        case .chat:
            return AnyEncodable(
                ChatCompletionResponse(
                    id: id, object: "chat.completion", created: created, model: model,
                    choices: answers.enumerated().map { i, a in
                        .init(
                            index: i, message: .init(role: "assistant", content: a.completion.text), logprobs: a.chatLogprobs,
                            finishReason: finish(a.completion))
                    }, usage: usage))
        case .text:
            return AnyEncodable(
                CompletionResponse(
                    id: id, object: "text_completion", created: created, model: model,
                    choices: answers.enumerated().map { i, a in
                        .init(
                            index: i, text: (a.echo ?? "") + a.completion.text, logprobs: a.textLogprobs,
                            finishReason: finish(a.completion))
                    }, usage: usage))
        }
    }

    func sse(_ event: InferenceEvent) -> String {
        switch event {
        case .started(let name):
            model.value = name
            return kind == .chat ? line(chat(.init(role: "assistant", content: ""), finish: nil)) : ""
        case .text(let t):
            return line(kind == .chat ? chat(.init(content: t), finish: nil) : text(t, finish: nil))
        case .finished(let c):
            var out = line(kind == .chat ? chat(.init(), finish: c.finishReason) : text("", finish: c.finishReason))
            if includeUsage {
                let usage = Usage(promptTokens: c.promptTokens, completionTokens: c.completionTokens)
                out += line(
                    kind == .chat
                        ? AnyEncodable(
                            ChatCompletionResponse(
                                id: id, object: "chat.completion.chunk", created: created, model: model.value, choices: [],
                                usage: usage))
                        : AnyEncodable(
                            CompletionResponse(
                                id: id, object: "text_completion", created: created, model: model.value, choices: [],
                                usage: usage)))
            }
            return out + "data: [DONE]\n\n"
        case .failed(let message):
            return line(AnyEncodable(ErrorBody(code: "failed", message: message))) + "data: [DONE]\n\n"
        }
    }

    private func chat(_ delta: ChatChoice.Delta, finish: String?) -> AnyEncodable {
        AnyEncodable(
            ChatCompletionResponse(
                id: id, object: "chat.completion.chunk", created: created, model: model.value,
                choices: [.init(delta: delta, finishReason: finish)], usage: nil))
    }

    private func text(_ t: String, finish: String?) -> AnyEncodable {
        AnyEncodable(
            CompletionResponse(
                id: id, object: "text_completion", created: created, model: model.value,
                choices: [.init(text: t, finishReason: finish)], usage: nil))
    }

    private func line(_ value: AnyEncodable) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let data = (try? enc.encode(value)) ?? Data("{}".utf8)
        return "data: " + String(decoding: data, as: UTF8.self) + "\n\n"
    }
}

/// Any Encodable, for responses whose type depends on the request.
struct AnyEncodable: Encodable {
    let encodeTo: (any Encoder) throws -> Void
    init(_ value: some Encodable) { encodeTo = value.encode }
    func encode(to encoder: any Encoder) throws { try encodeTo(encoder) }
}
