import Foundation
import Testing
@testable import CRMAModel
import CRMANumerics

@Suite struct ChatTemplateTests {
    @Test func recognisesSmolLM2sChatMLTemplateAndItsDefaultSystemPrompt() throws {
        let jinja =
            "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        let t = try #require(ChatTemplate(jinja: jinja))
        #expect(t.format == .chatML)
        #expect(
            t.render([ChatMessage(role: "user", content: "Hi")])
                == "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        )
        #expect(
            t.render(
                [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "Hi")],
                addGenerationPrompt: false)
                == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    }

    /// Qwen 2.5's template (from the GGUF: newlines written as `\n` in Jinja strings, a tools branch first)
    /// renders as transformers' apply_chat_template does (Fixtures/tokenizer/qwen2-chat.golden.json,
    /// make_qwen2_tokenizer_golden.py), its default system prompt included.
    @Test func rendersQwensTemplateAsTransformersDoes() throws {
        struct Golden: Decodable {
            struct Case: Decodable {
                let messages: [ChatMessage]
                let add_generation_prompt: Bool
                let text: String
            }
            let template: String
            let cases: [Case]
        }
        let golden = try JSONDecoder().decode(
            Golden.self,
            from: Data(contentsOf: Fixtures.root.appendingPathComponent("tokenizer/qwen2-chat.golden.json")))
        let t = try #require(ChatTemplate(jinja: golden.template))
        #expect(t.format == .chatML)
        #expect(t.defaultSystem == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
        #expect(golden.cases.count == 6)
        for c in golden.cases {
            #expect(t.render(c.messages, addGenerationPrompt: c.add_generation_prompt) == c.text)
        }
    }

    @Test func unknownTemplateIsNotGuessed() {
        #expect(ChatTemplate(jinja: "{{ messages }}") == nil)
    }
}

@Suite struct SamplerTests {
    @Test func greedyPicksTheArgmax() {
        var s = Sampler(.greedy)
        let logits: [Float] = [0.1, 3, -1, 2.9]
        #expect(logits.withUnsafeBufferPointer { s.sample($0.baseAddress!, vocab: 4) } == 1)
    }

    @Test func sameSeedSameDrawsAndTopKLimitsTheChoice() {
        let logits: [Float] = [1, 1.2, 0.8, 1.1, -5, 0.9]
        func draws(_ seed: UInt64, topK: Int = 0) -> [Int32] {
            var s = Sampler(SamplingParameters(temperature: 1, topK: topK, seed: seed))
            return (0..<200).map { _ in logits.withUnsafeBufferPointer { s.sample($0.baseAddress!, vocab: 6) } }
        }
        #expect(draws(7) == draws(7))
        #expect(draws(7) != draws(8))
        #expect(Set(draws(3, topK: 2)) == [1, 3])
        #expect(Set(draws(3)).count >= 4)
    }
}

@Suite(.serialized) struct RealGenerationTests {
    @Test func theInstructModelKnowsTheCapitalOfFrance() throws {
        let lm = try RealModel.load()
        let reply = Generator(lm).chat(
            [ChatMessage(role: "user", content: "What is the capital of France?")], maxTokens: 40)
        #expect(reply.contains("Paris"), "reply: \(reply)")
    }

    /// Gemma 3 270M ships without a chat template: the file obtainable offline is the pretrained (base) model,
    /// not the instruction-tuned one. Its vocabulary's turn tokens select Gemma's turn format, whose prompt is
    /// exactly what Gemma's template renders; but a base model does not answer in turns (asked in them it
    /// repeats the question), so the question is asked as text to complete.
    @Test func gemmaRendersItsTurnFormatAndAnswersAsABaseModel() throws {
        let lm = try RealModel.gemma()
        #expect(lm.tokenizer.chatFormat.format == .gemma)
        let g = Generator(lm)
        let (prompt, stops) = g.chatPrompt([
            ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Test"),
        ])
        #expect(lm.tokenizer.decode(prompt) == "<bos><start_of_turn>user\nBe brief.\n\nTest<end_of_turn>\n<start_of_turn>model\n")
        #expect(stops.contains(lm.tokenizer.id(of: "<end_of_turn>")!))
        // Asked in turns, it repeats the question, as transformers' greedy decoding of the same GGUF does
        // (transformers 5.24, fp32: "What is the capital of France? mendatang\nWhat is the capital of France? …").
        let turns = g.chat([ChatMessage(role: "user", content: "What is the capital of France?")], maxTokens: 20)
        #expect(turns.hasPrefix("What is the capital of France? mendatang\nWhat is the capital of France? mendatang"), "\(turns)")
        let (ids, _) = g.generate(prompt: lm.tokenizer.encode("Question: What is the capital of France?\nAnswer:"), maxTokens: 12)
        let reply = lm.tokenizer.decode(ids, skipSpecial: true)
        print("Gemma 3 270M: \(reply.debugDescription)")
        #expect(reply.contains("Paris"), "reply: \(reply)")
    }

    @Test func greedyGenerationStopsAtTheTokenLimit() throws {
        let lm = try RealModel.load()
        let prompt = lm.tokenizer.encode("The capital of France is")
        let (ids, stop) = Generator(lm).generate(prompt: prompt, maxTokens: 5)
        #expect(ids.count == 5)
        #expect(stop == .maxTokens)
        // The first greedy token equals the argmax of the full forward pass at the last position.
        let logits = lm.model.logits(tokens: prompt)
        let V = lm.model.config.vocabSize
        var best = 0
        for i in 0..<V where logits[(prompt.count - 1) * V + i] > logits[(prompt.count - 1) * V + best] { best = i }
        #expect(ids[0] == Int32(best))
    }
}

/// What a streamed completion may show: never the start of a stop sequence that may still complete.
@Suite struct CompletionTextTests {
    @Test func holdsBackWhatMayBecomeAStopSequenceAndFindsTheFirstOne() {
        let s = { (t: String) in Array(t.unicodeScalars) }
        #expect(CompletionText.heldBack(s("END"), in: s("the E")[...]) == 1)
        #expect(CompletionText.heldBack(s("END"), in: s("the EN")[...]) == 2)
        #expect(CompletionText.heldBack(s("END"), in: s("the X")[...]) == 0)
        #expect(CompletionText.firstMatch(of: s("END"), in: s("a END b END")) == 2)
        #expect(CompletionText.firstMatch(of: s("END"), in: s("EN")) == nil)
    }
}
