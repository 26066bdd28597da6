import CRMATestSupport
import CRMAModel
import Foundation
import Testing
@testable import CRMATraining

@Suite struct DocumentReaderTests {
    func parse(_ text: String, _ name: String = "d.jsonl") throws -> [TrainingExample] {
        try DocumentReader.parse(Data(text.utf8), file: name).map(\.0)
    }

    func expectError(_ text: String, _ kind: DataError.Kind, line: Int?, file: String = "d.jsonl") {
        do {
            _ = try DocumentReader.parse(Data(text.utf8), file: file)
            Issue.record("expected \(kind)")
        } catch let e as DataError {
            #expect(e.kind == kind)
            #expect(e.line == line)
            #expect(e.description.hasPrefix(line.map { "\(file):\($0)" } ?? file))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func readsEveryJSONLShape() throws {
        let ex = try parse(
            #"""
            {"text": "plain"}
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}

            {"prompt": "2+2=", "completion": "4"}
            """#)
        #expect(
            ex == [
                .text("plain"),
                .chat([ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Hello")]),
                .promptCompletion(prompt: "2+2=", completion: "4"),
            ])
    }

    @Test func textAndMarkdownAreOneDocumentEach() throws {
        #expect(try parse("line one\nline two\n", "notes.md") == [.text("line one\nline two\n")])
        expectError("  \n\t\n", .emptyDocument, line: nil, file: "empty.txt")
    }

    @Test func malformedInputNamesTheLineAndTheProblem() {
        expectError("{\"text\": \"ok\"}\n{\"text\": ", .badJSON, line: 2)
        expectError("[1, 2]", .wrongType, line: 1)
        expectError("{\"text\": 5}", .wrongType, line: 1)
        expectError("{\"title\": \"x\"}", .missingField, line: 1)
        expectError("{\"prompt\": \"x\"}", .missingField, line: 1)
        expectError("{\"text\": \"   \"}", .emptyDocument, line: 1)
        expectError("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", .emptyDocument, line: 1)
        expectError("{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}", .wrongType, line: 1)
        expectError("{\"messages\": [{\"content\": \"hi\"}]}", .missingField, line: 1)
        expectError("", .emptyDocument, line: nil)
    }

    @Test func invalidUTF8IsReportedWithItsLine() {
        var bytes = Array("{\"text\": \"a\"}\n{\"text\": \"".utf8)
        bytes += [0xC3, 0x28]
        bytes += Array("\"}".utf8)
        do {
            _ = try DocumentReader.parse(Data(bytes), file: "bad.jsonl")
            Issue.record("expected an error")
        } catch let e as DataError {
            #expect(e.kind == .invalidUTF8)
            #expect(e.line == 2)
        } catch { Issue.record("\(error)") }
    }

    @Test func unsupportedExtensionIsRefused() {
        expectError("x", .unsupportedFormat, line: nil, file: "data.csv")
    }
}

@Suite struct ExampleTokenizerTests {
    @Test func chatLearnsOnlyAssistantTurns() throws {
        let lm = try TinyModels.load("llama-f32")
        let et = ExampleTokenizer(tokenizer: lm.tokenizer)
        let doc = et.tokenize(
            .chat([
                ChatMessage(role: "user", content: "What is two?"),
                ChatMessage(role: "assistant", content: "Two is 2."),
            ]))
        let learned = zip(doc.tokens, doc.lossMask).filter(\.1).map(\.0)
        #expect(lm.tokenizer.decode(learned) == "Two is 2.<|im_end|>\n")
        // The whole document is the rendered conversation.
        #expect(
            lm.tokenizer.decode(doc.tokens)
                == et.template.render(
                    [
                        ChatMessage(role: "user", content: "What is two?"),
                        ChatMessage(role: "assistant", content: "Two is 2."),
                    ], addGenerationPrompt: false))
    }

    @Test func completionIsLearnedWithAnEndToken() throws {
        let lm = try TinyModels.load("llama-f32")
        let doc = ExampleTokenizer(tokenizer: lm.tokenizer).tokenize(
            .promptCompletion(prompt: "Q: hi", completion: " A: yo"))
        let learned = zip(doc.tokens, doc.lossMask).filter(\.1).map(\.0)
        #expect(lm.tokenizer.decode(Array(learned.dropLast())) == " A: yo")
        #expect(learned.last == lm.tokenizer.eosID)
    }

    /// Gemma and Llama 2 are served with BOS first (generation encodes with the tokenizer's default), so every
    /// kind of training document starts with it too, unlearned; SmolLM2's byte-level tokenizer adds none.
    @Test func documentsStartWithTheBeginningTokenWhenTheTokenizerAddsOne() throws {
        let smol = try TinyModels.load("llama-f32").tokenizer
        // "!" stands in for BOS: none of the texts has one.
        let withBOS = Tokenizer(
            kind: smol.kind, model: smol.model, preTokenizer: smol.preTokenizer,
            specialTokens: smol.specialTokens.map { ($0.text, $0.id) }, bosID: 3, eosID: smol.eosID, addBOS: true,
            addSpacePrefix: false, chatTemplate: nil)
        let et = ExampleTokenizer(tokenizer: withBOS)
        let docs = [
            et.tokenize(.text("plain text")),
            et.tokenize(.promptCompletion(prompt: "Q: hi", completion: " A: yo")),
            et.tokenize(.chat([ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "yo")])),
        ]
        for doc in docs {
            #expect(doc.tokens.first == 3)
            #expect(doc.tokens.dropFirst().allSatisfy { $0 != 3 })
        }
        #expect(docs[1].tokens == withBOS.encode("Q: hi") + withBOS.encode(" A: yo", addBOS: false) + [smol.eosID!])
        #expect(docs[2].lossMask.first == false)
        #expect(!smol.addBOS)
        #expect(ExampleTokenizer(tokenizer: smol).tokenize(.text("plain text")).tokens == smol.encode("plain text", addBOS: false))
    }
}

@Suite struct HoldoutSplitTests {
    @Test func splitIsDeterministicStableAndRespectsTheMinimum() {
        let texts = (0..<200).map { "document number \($0)" }
        let s = HoldoutSplit(fraction: 0.1, minimum: 5)
        let (train, holdout) = s.split(texts)
        #expect(Set(train).isDisjoint(with: holdout))
        #expect(train.count + holdout.count == 200)
        #expect((10...30).contains(holdout.count))
        // Adding documents never moves existing ones.
        let (_, holdout2) = s.split(texts + (0..<50).map { "another \($0)" })
        #expect(Set(holdout).isSubset(of: Set(holdout2)))
        #expect(HoldoutSplit(fraction: 0, minimum: 3).split(texts).holdout.count == 3)
        #expect(HoldoutSplit(fraction: 0.5, minimum: 1).split(["only"]).holdout.isEmpty)
    }
}
