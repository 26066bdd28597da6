import Foundation
import Testing
@testable import CRMAModel

/// Inputs crma-fuzz found that used to trap while loading tokenizer.json.
@Suite struct TokenizerJSONHostileTests {
    func load(_ json: String) throws -> Tokenizer {
        let path = NSTemporaryDirectory() + "tok-\(UUID().uuidString).json"
        FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
        defer { unlink(path) }
        return try Tokenizer(jsonFile: path)
    }

    static let base =
        #"{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}, "added_tokens": [ADDED]}"#

    @Test(arguments: [-1, -2_147_483_649, 3_000_000, Int.max])
    func addedTokenIDsOutOfRangeAreRefused(_ id: Int) {
        #expect(throws: ModelFileError.self) {
            try load(Self.base.replacingOccurrences(of: "ADDED", with: #"{"id": \#(id), "content": "<x>"}"#))
        }
    }

    @Test func aValidAddedTokenStillLoads() throws {
        let t = try load(Self.base.replacingOccurrences(of: "ADDED", with: #"{"id": 2, "content": "<x>", "special": true}"#))
        #expect(t.id(of: "<x>") == 2)
    }
}
