import Foundation
import Testing
import CRMATestSupport
@testable import CRMAModel

/// The matcher accepts exactly the prefixes of documents that parse and validate: a valid document is read
/// to completion, and an invalid one is refused at the first byte after which none could follow.
@Suite struct JSONSchemaMatcherTests {
    /// Where `text` is first refused (nil: all read), and whether it is complete after the last byte read.
    func read(_ schema: JSONSchema, _ text: String) -> (refusedAt: Int?, complete: Bool) {
        var m = JSONSchemaMatcher(schema: schema)
        for (i, b) in Array(text.utf8).enumerated() where !m.feed(b) { return (i, false) }
        return (nil, m.isComplete)
    }

    func valid(_ schema: JSONSchema, _ text: String) -> Bool {
        let r = read(schema, text)
        return r.refusedAt == nil && r.complete
    }

    static let person = JSONSchema.object(
        properties: [
            "name": .string(minLength: 1, maxLength: 8, format: nil), "age": .number(integer: true),
            "tags": .array(items: .literals(["\"a\"", "\"b\""]), minItems: 1, maxItems: 2),
        ], required: ["name", "age"], additional: nil)

    @Test func readsValidDocumentsToTheEnd() {
        #expect(valid(Self.person, #"{"name":"Ann","age":41}"#))
        #expect(valid(Self.person, #"{ "age": -3, "name": "Bo", "tags": ["a", "b"] }"#))
        #expect(valid(.anyObject, #"{"x": [1, 2.5e-3, true, null, {"y": "z\n\u00e9"}], "": {}}"#))
        #expect(valid(.number(integer: false), "-0.5E+10"))
        #expect(valid(.literals(["1", "10"]), "10") && valid(.literals(["1", "10"]), "1"))
        #expect(valid(.string(minLength: 0, maxLength: nil, format: .date), #""2026-12-07""#))
        #expect(valid(.string(minLength: 0, maxLength: nil, format: .uuid), #""123e4567-e89b-12d3-a456-426614174000""#))
        #expect(valid(.array(items: .any, minItems: 0, maxItems: 0), "[]"))
        #expect(valid(.string(minLength: 0, maxLength: 3, format: nil), #""é\"x""#))
    }

    @Test func refusesAtTheFirstByteNoValidDocumentFollows() {
        // A required property missing: the closing brace is refused.
        #expect(read(Self.person, #"{"name":"Ann"}"#).refusedAt == 13)
        // An undeclared key: refused where it stops being a prefix of a declared one.
        #expect(read(Self.person, #"{"nope":1}"#).refusedAt == 3)
        // A key twice.
        #expect(read(Self.person, #"{"age":1,"age""#).refusedAt == 10)
        // An integer with a fraction; a string longer than maxLength; a string shorter than minLength.
        #expect(read(Self.person, #"{"age":1."#).refusedAt == 8)
        #expect(read(Self.person, #"{"name":"123456789"#).refusedAt == 17)
        #expect(read(Self.person, #"{"name":"""#).refusedAt == 9)
        // Array limits: at least one tag, at most two; members from the enum only.
        #expect(read(Self.person, #"{"tags":[]"#).refusedAt == 9)
        #expect(read(Self.person, #"{"tags":["a","b","#).refusedAt == 16)
        #expect(read(Self.person, #"{"tags":["c"#).refusedAt == 10)
        // Trailing commas, numbers JSON does not have, and anything after the document.
        #expect(read(.anyObject, #"{"a":1,}"#).refusedAt == 7)
        #expect(read(.array(items: .any, minItems: 0, maxItems: nil), "[1,]").refusedAt == 3)
        #expect(read(.number(integer: false), "01").refusedAt == 1)
        #expect(read(.number(integer: false), ".5").refusedAt == 0)
        #expect(read(.number(integer: false), "1.").complete == false)
        #expect(read(.anyObject, "{} ").refusedAt == 2)
        #expect(read(.string(minLength: 0, maxLength: nil, format: .date), #""2026-1-"#).refusedAt == 7)
        #expect(read(.string(minLength: 0, maxLength: nil, format: nil), "\"a\u{1}").refusedAt == 2)
        #expect(read(.string(minLength: 0, maxLength: nil, format: nil), #""\x"#).refusedAt == 2)
        // Strings hold whole UTF-8 characters: no stray continuation byte, no character cut by the quote.
        let free = JSONSchemaMatcher(schema: .string(minLength: 0, maxLength: nil, format: nil))
        #expect(!free.accepts([0x22, 0x80]) && !free.accepts([0x22, 0xC3, 0x22]) && free.accepts([0x22, 0xC3, 0xA9, 0x22]))
        // json_object's documents are objects.
        #expect(read(.anyObject, "[1]").refusedAt == 0)
    }

    @Test func whitespaceAndNestingAreBounded() {
        let spaces = String(repeating: " ", count: JSONSchemaMatcher.maxWhitespace)
        #expect(valid(.anyObject, "{" + spaces + "}"))
        #expect(read(.anyObject, "{" + spaces + " }").refusedAt == JSONSchemaMatcher.maxWhitespace + 1)
        let deep = String(repeating: "[", count: JSONSchemaMatcher.maxDepth + 1)
        #expect(read(.array(items: .any, minItems: 0, maxItems: nil), deep).refusedAt == JSONSchemaMatcher.maxDepth)
    }

    /// The table holds each ordinary token's bytes as the tokenizer decodes them, and nothing for special
    /// tokens or ids outside the vocabulary (never allowed).
    @Test func theTokenByteTableHoldsEachOrdinaryTokensBytes() throws {
        let lm = try TinyModels.load("llama-f32")
        let t = lm.tokenizer, table = TokenByteTable(t)
        #expect(table.count == t.vocabularySize)
        for id in Int32(0)..<Int32(t.vocabularySize) {
            #expect(Array(table[id]) == (t.specialIDs.contains(id) ? [] : t.bytes([id])), "token \(id)")
        }
        #expect(!t.specialIDs.isEmpty && table[-1].isEmpty && table[Int32(t.vocabularySize)].isEmpty)
    }

    /// Under a constraint, random weights still write documents: the tiny random model, sampling at
    /// temperature 1, answers with text that Foundation parses and that has what the schema asks whenever
    /// it finishes within the tiny model's context — and it finishes most of the time, though among its
    /// allowed tokens whitespace is many and structure few.
    @Test func aRandomModelSamplingUnderAConstraintWritesValidDocuments() throws {
        let lm = try TinyModels.load("llama-f32")
        let eos = lm.tokenizer.eosID.map { Set([$0]) } ?? []
        var finished = 0
        let tokens = TokenByteTable(lm.tokenizer)
        for seed in UInt64(1)...12 {
            let c = JSONConstraint(schema: Self.person, tokens: tokens, stopTokens: eos)
            let out = Generator(lm).complete(
                prompt: [1, 2, 3], maxTokens: 250, sampling: SamplingParameters(temperature: 1, seed: seed), stopTokens: eos,
                constraint: c)
            guard out.finishReason == "stop" else {
                // Cut by the context: what was written is still a prefix of a valid document.
                #expect(JSONSchemaMatcher(schema: Self.person).accepts(Array(out.text.utf8)))
                continue
            }
            finished += 1
            try #require(c.isComplete, "seed \(seed): \(out.text)")
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any], "\(out.text)")
            let name = try #require(doc["name"] as? String)
            let age = try #require(doc["age"] as? NSNumber, "\(out.text)")
            #expect((1...8).contains(name.count) && age.doubleValue == age.doubleValue.rounded(), "\(out.text)")
            if let tags = doc["tags"] as? [String] { #expect((1...2).contains(tags.count) && tags.allSatisfy { ["a", "b"].contains($0) }) }
            #expect(Set(doc.keys).isSubset(of: ["name", "age", "tags"]))
        }
        #expect(finished >= 6, "\(finished) of 12 documents finished")
    }
}
