import CRMAModel
import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

/// What lm-evaluation-harness asks of `/v1/completions`: prompts as text or token ids, several per request,
/// `echo` with `logprobs` scoring the prompt with crma's own numbers, and `max_tokens: 0`.
extension DaemonTests {
    func completions(_ body: String, limit: Int = 64) throws -> [InferencePlan] {
        let r = try JSONDecoder().decode(CompletionRequest.self, from: Data(body.utf8))
        return try InferencePlan.completions(r, tokenizer: Self.lm.tokenizer, maxTokensLimit: limit, contextLength: 2048)
    }

    @Test func promptsMayBeTextsOrTokenIdsOneOrMany() throws {
        let hi = Self.lm.tokenizer.encode("Hi")
        #expect(try completions(#"{"model": "base", "prompt": "Hi"}"#).map(\.prompt) == [hi])
        #expect(try completions(#"{"model": "base", "prompt": ["Hi", "Hi"]}"#).map(\.prompt) == [hi, hi])
        #expect(try completions(#"{"model": "base", "prompt": [5, 6, 7]}"#).map(\.prompt) == [[5, 6, 7]])
        #expect(try completions(#"{"model": "base", "prompt": [[5], [6, 7]]}"#).map(\.prompt) == [[5], [6, 7]])
        let echoed = try completions(#"{"model": "base", "prompt": [[5, 6]], "echo": true, "max_tokens": 0, "logprobs": 1}"#)
        #expect(echoed[0].echo == Self.lm.tokenizer.decode([5, 6]) && echoed[0].maxTokens == 0 && echoed[0].logprobs == 1)
        // A request body round-trips through the encoder in the form it came.
        for body in [#"{"model": "base", "prompt": ["a", "b"]}"#, #"{"model": "base", "prompt": [[1], [2, 3]]}"#] {
            let r = try JSONDecoder().decode(CompletionRequest.self, from: Data(body.utf8))
            #expect(try JSONDecoder().decode(CompletionRequest.self, from: JSONEncoder().encode(r)) == r)
        }
    }

    @Test func completionRequestsThatCannotBeServedAsAskedAreRefusedByName() throws {
        func refusal(_ body: String) -> String? {
            do {
                _ = try completions(body)
                return nil
            } catch InferencePlan.Refusal.badRequest(let m) {
                return m
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(#"{"model": "crma", "prompt": ["a", "b"]}"#)?.contains("one prompt per request") == true)
        #expect(refusal(#"{"model": "base", "prompt": "a", "logprobs": 6}"#)?.hasPrefix("logprobs must be 0...5") == true)
        #expect(refusal(#"{"model": "base", "prompt": "a", "max_tokens": 0}"#)?.hasPrefix("max_tokens must be 1...64") == true)
        #expect(refusal(#"{"model": "base", "prompt": "a", "echo": true, "stream": true}"#)?.contains("not streamed") == true)
        #expect(refusal(#"{"model": "base", "prompt": ["a", "b"], "stream": true}"#)?.hasPrefix("stream takes one prompt") == true)
        #expect(refusal(#"{"model": "base", "prompt": [[1], [99999999]]}"#)?.hasPrefix("prompt 1 has token id 99999999") == true)
        #expect(refusal(#"{"model": "base", "prompt": [[]]}"#) == "prompt is empty")
        let many = "[" + Array(repeating: #""a""#, count: 65).joined(separator: ",") + "]"
        #expect(refusal(#"{"model": "base", "prompt": \#(many)}"#) == "at most 64 prompts per request (got 65)")
    }

    /// The echoed prompt's log-probabilities are the training loss's per-token numbers under the same
    /// adapters (what the gate and crma-bench score with), so a harness summing them gets crma's own
    /// log-likelihood; the one generated token is its position's top token when decoding is greedy.
    @Test func anEchoedPromptIsScoredWithTheLossesOwnNumbers() async throws {
        let d = try daemon(config())
        try d.start()
        let ids = Self.lm.tokenizer.encode(Self.medical.components(separatedBy: "\n")[2], addBOS: false)
        let body = #"{"model": "base", "prompt": \#(ids.map(Int.init)), "echo": true, "max_tokens": 1, "logprobs": 2, "temperature": 0}"#
        let plan = try completions(body)[0]
        let (_, c) = try await d.complete(plan)
        let prompt = try #require(c.promptLogprobs)
        let pass = LlamaTrainingPass(model: Self.lm.model, hooks: nil)
        var b = TrainingBatch.unscored(Array(ids.dropLast()))
        for i in 0..<(ids.count - 1) { b.targets[i] = ids[i + 1] }
        _ = pass.forward(b)
        #expect(prompt.count == ids.count - 1)
        #expect(zip(prompt, pass.lastTokenLosses).allSatisfy { abs($0.logprob + $1) < 1e-6 })

        let rendered = try #require(d.completionLogprobs(c, plan: plan))
        #expect(rendered.tokens.count == ids.count + 1 && rendered.tokenLogprobs[0] == nil && rendered.topLogprobs[0] == nil)
        #expect(rendered.tokenLogprobs[1] == prompt[0].logprob && rendered.topLogprobs[1]?.count ?? 0 >= 1)
        let generated = try #require(c.logprobs?.first)
        #expect(rendered.tokenLogprobs.last! == generated.logprob && generated.top[0].id == generated.id)
        #expect(rendered.textOffset.first == 0 && zip(rendered.textOffset, rendered.textOffset.dropFirst()).allSatisfy { $0 <= $1 })
        let json = String(decoding: try JSONEncoder().encode(rendered), as: UTF8.self)
        #expect(json.contains(#""token_logprobs":[null,"#) && json.contains(#""top_logprobs":[null,"#))

        // When the one generated token is the end of text, it is still reported: a harness drops the last
        // entry as the generated one, and would otherwise drop the prompt's last token.
        var stopped = plan
        stopped.stopTokens = [generated.id]
        let (_, ended) = try await d.complete(stopped)
        #expect(ended.completionTokens == 0 && ended.finishReason == "stop" && ended.logprobs?.map(\.id) == [generated.id])
        let endedRendered = try #require(d.completionLogprobs(ended, plan: stopped))
        #expect(endedRendered.tokenLogprobs.count == ids.count + 1 && Array(endedRendered.tokenLogprobs[1..<ids.count]) == prompt.map(\.logprob))

        // max_tokens 0: the prompt scored, nothing generated.
        let (_, scoredOnly) = try await d.complete(try completions(body.replacingOccurrences(of: #""max_tokens": 1"#, with: #""max_tokens": 0"#))[0])
        #expect(scoredOnly.completionTokens == 0 && scoredOnly.promptLogprobs == prompt && scoredOnly.logprobs == [])
        await stop(d)
    }

    @Test func chatReportsTheReplysTokensWithTheirBytes() async throws {
        let d = try daemon(config())
        try d.start()
        let body = #"{"model": "base", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 2}"#
        let r = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body.utf8))
        let (_, c) = try await d.complete(try d.plan(r))
        let lp = try #require(d.chatLogprobs(c))
        #expect(lp.content.count == c.completionTokens)
        for t in lp.content {
            #expect(t.topLogprobs.count == 2 && t.topLogprobs[0].logprob == t.logprob && t.topLogprobs[0].token == t.token)
            #expect(!t.bytes.isEmpty)
        }
        #expect(throws: InferencePlan.Refusal.self) {
            try d.plan(try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body.replacingOccurrences(of: #""logprobs": true"#, with: #""logprobs": false"#).utf8)))
        }
        await stop(d)
    }

    @Test func tokenizesAndDetokenizesAsTheModelDoes() throws {
        let d = try daemon(config())
        let tok = Self.lm.tokenizer
        #expect(try d.tokenize(TokenizeRequest(prompt: "Hello there", addSpecialTokens: false)).tokens == tok.encode("Hello there", addBOS: false))
        #expect(try d.tokenize(TokenizeRequest(prompt: "Hello there")).tokens == tok.encode("Hello there"))
        let ids = tok.encode("Hello there", addBOS: false)
        #expect(try d.detokenize(DetokenizeRequest(tokens: ids)).prompt == "Hello there")
        #expect(throws: InferencePlan.Refusal.self) { try d.detokenize(DetokenizeRequest(tokens: [-1])) }
        #expect(throws: InferencePlan.Refusal.self) { try d.tokenize(TokenizeRequest()) }
        let info = d.tokenizerInfo()
        #expect(info.eosToken == tok.eosID.map { tok.decode([$0]) } && info.modelMaxLength == Self.lm.model.config.contextLength)
        // lm-eval finds the end-of-text id by tokenizing its text: it must come back as that one token.
        if let eos = info.eosToken { #expect(try d.tokenize(TokenizeRequest(prompt: eos, addSpecialTokens: false)).tokens == [tok.eosID!]) }
        let json = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
        #expect(json.contains(#""bos_token":"#) && json.contains(#""eos_token":"#))
    }
}

/// Structured output through the daemon: a chat request with a JSON Schema gets text that parses and has
/// what the schema asks, under sampling.
extension DaemonTests {
    @Test func aJSONSchemaResponseFormatConstrainsTheAnswer() async throws {
        let d = try daemon(config())
        try d.start()
        let body = #"""
            {"model": "base", "messages": [{"role": "user", "content": "A patient"}], "max_tokens": 200, "temperature": 1,
             "seed": 3, "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema":
             {"type": "object", "properties": {"severity": {"enum": ["low", "high"]}, "admit": {"type": "boolean"}},
              "required": ["severity", "admit"], "additionalProperties": false}}}}
            """#
        let r = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body.utf8))
        let (_, c) = try await d.complete(try d.plan(r))
        try #require(c.finishReason == "stop", "\(c.text)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(c.text.utf8)) as? [String: Any], "\(c.text)")
        #expect(["low", "high"].contains(doc["severity"] as? String) && doc["admit"] is Bool && doc.count == 2, "\(c.text)")
        await stop(d)
    }
}
