import Foundation
import CRMAWire
import Testing
@testable import CRMADaemon

@Suite struct IngestorTests {
    let dir = TempDirectory("ingest")

    func ingestor(maxBytes: Int = 1 << 20) throws -> Ingestor {
        var c = DaemonConfig.Ingest()
        c.maxFileBytes = maxBytes
        let registry = try Registry(path: "\(dir.path)/crmad.sqlite")
        return try Ingestor(
            inbox: "\(dir.path)/inbox", registry: registry, blobs: try BlobStore(root: "\(dir.path)/blobs"), config: c)
    }

    func rejectedKinds(_ outcomes: [Ingestor.Outcome]) -> [IngestRejection.Kind] {
        outcomes.compactMap { if case .rejected(let r) = $0 { r.kind } else { nil } }
    }

    @Test func storesThenRemovesAndIgnoresDuplicates() throws {
        let ing = try ingestor()
        dir.drop("inbox/med/a.jsonl", documents(5) { "note \($0)" })
        #expect(ing.scan() == [.stored(domain: "med", file: "med/a.jsonl", documents: 5)])
        #expect(!dir.exists("inbox/med/a.jsonl"))
        let blobs = try ing.registry.documentBlobs(domain: "med", role: "train")
            + ing.registry.documentBlobs(domain: "med", role: "holdout")
        #expect(blobs.count == 5)
        for b in blobs { #expect(throws: Never.self) { try ing.blobs.get(b) } }
        dir.drop("inbox/med/copy.jsonl", documents(5) { "note \($0)" })
        #expect(ing.scan() == [.duplicate(domain: "med", file: "med/copy.jsonl")])
        #expect(!dir.exists("inbox/med/copy.jsonl"))
    }

    @Test func theSameFileInTwoDomainsIsStoredForBothAndOncePerDomain() throws {
        let ing = try ingestor()
        let text = documents(5) { "note \($0)" }
        dir.drop("inbox/a/x.jsonl", text)
        dir.drop("inbox/b/x.jsonl", text)
        #expect(
            ing.scan() == [
                .stored(domain: "a", file: "a/x.jsonl", documents: 5),
                .stored(domain: "b", file: "b/x.jsonl", documents: 5),
            ])
        for domain in ["a", "b"] {
            let stored =
                try ing.registry.documentCount(domain: domain, role: "train")
                + ing.registry.documentCount(domain: domain, role: "holdout")
            #expect(stored == 5, "domain \(domain)")
        }
        #expect(try ing.registry.domains().map(\.files) == [1, 1])
        dir.drop("inbox/a/again.jsonl", text)
        #expect(ing.scan() == [.duplicate(domain: "a", file: "a/again.jsonl")])
        #expect(!dir.exists("inbox/a/again.jsonl"))
        #expect(try ing.registry.files().count == 2)
    }

    @Test func leavesFilesStillBeingWritten() throws {
        let ing = try ingestor()
        dir.drop("inbox/med/a.txt", "x")
        rename("\(dir.path)/inbox/med/a.txt", "\(dir.path)/inbox/med/a.txt.part")
        #expect(ing.scan().isEmpty)
        #expect(dir.exists("inbox/med/a.txt.part"))
    }

    @Test func refusesBadEntriesAndKeepsThemWithAnExplanation() throws {
        let ing = try ingestor(maxBytes: 100)
        let inbox = "\(dir.path)/inbox"
        dir.drop("inbox/med/empty.txt", "")
        dir.drop("inbox/med/big.txt", String(repeating: "x", count: 101))
        FileManager.default.createFile(atPath: "\(inbox)/med/binary.txt", contents: Data([0x00, 0xFF, 0xFE]))
        dir.drop("inbox/med/broken.jsonl", "{\"text\": \"a\"}\n{\"text\": \n")
        symlink("/etc/shadow", "\(inbox)/med/shadow.txt")
        mkfifo("\(inbox)/med/pipe.txt", 0o600)
        dir.drop("inbox/med/real.txt", "real text")
        link("\(inbox)/med/real.txt", "\(inbox)/med/hard.txt")
        try FileManager.default.createDirectory(atPath: "\(inbox)/med/sub.txt", withIntermediateDirectories: true)
        dir.drop("inbox/stray.txt", "outside a domain")
        dir.drop("inbox/Bad Domain/a.txt", "x")
        let kinds = rejectedKinds(ing.scan())
        #expect(kinds.filter { $0 == .badContent }.count == 3)  // empty, binary, broken JSONL
        #expect(kinds.contains(.tooLarge))
        #expect(kinds.contains(.symlink))
        #expect(kinds.filter { $0 == .notRegularFile }.count == 2)  // FIFO, directory
        #expect(kinds.filter { $0 == .hardLink }.count == 2)  // both names of the hard-linked file
        #expect(kinds.contains(.outsideDomain))
        #expect(kinds.contains(.badDomain))
        // Nothing is lost: every entry is in .rejected with an .error.json beside it.
        let rejected = dir.list("inbox/.rejected")
        for name in [
            "med__empty.txt", "med__big.txt", "med__binary.txt", "med__broken.jsonl", "med__shadow.txt", "med__pipe.txt",
            "med__hard.txt", "med__real.txt", "med__sub.txt", "stray.txt", "Bad Domain",
        ] {
            #expect(rejected.contains(name), "\(name) missing from .rejected")
            #expect(rejected.contains(name + ".error.json"), "\(name).error.json missing")
        }
        let note = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(inbox)/.rejected/med__broken.jsonl.error.json")))
            as? [String: Any]
        let r = note?["rejection"] as? [String: Any]
        #expect((r?["what"] as? String)?.contains("line 2") == true)
        #expect((r?["fix"] as? String)?.isEmpty == false)
        // The symlink moved is the link itself; its target is untouched.
        #expect(
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(inbox)/.rejected/med__shadow.txt"))
                == "/etc/shadow")
        #expect(try ing.registry.files().isEmpty)
    }
}
