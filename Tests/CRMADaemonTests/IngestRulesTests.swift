import CRMAModel
import CRMATraining
import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

@Suite struct DomainNameTests {
    @Test(arguments: ["medical", "a", "code_2", "x-y", "0abc", String(repeating: "a", count: 64)])
    func valid(_ name: String) { #expect(DomainName.isValid(name)) }

    @Test(arguments: [
        "", "Medical", "a/b", "..", ".hidden", "-x", "_x", "with space", "dé", String(repeating: "a", count: 65),
        String(repeating: "a", count: 300), "a\nb",
    ])
    func invalid(_ name: String) { #expect(!DomainName.isValid(name)) }

    @Test func suggestsAValidName() {
        let why = DomainName.validate("My Notes")!
        #expect(why.contains("\"my-notes\""))
        #expect(DomainName.isValid(DomainName.suggestion("My Notes")))
        #expect(DomainName.isValid(DomainName.suggestion("///")))
    }
}

@Suite struct IngestValidatorTests {
    @Test func inFlightNamesWait() {
        for n in [".x.txt", "a.txt.tmp", "a.jsonl.part"] { #expect(IngestValidator.classify(name: n) == .ignoreForNow) }
        #expect(IngestValidator.classify(name: "notes.txt") == .consider)
        if case .reject = IngestValidator.classify(name: "a\nb.txt") {} else { Issue.record("newline accepted") }
    }

    @Test func onlyRegularSingleLinkFilesWithinTheLimit() {
        #expect(IngestValidator.check(kind: .regular, links: 1, size: 10, maxBytes: 10, file: "f") == nil)
        #expect(IngestValidator.check(kind: .regular, links: 1, size: 11, maxBytes: 10, file: "f")?.kind == .tooLarge)
        #expect(IngestValidator.check(kind: .regular, links: 2, size: 1, maxBytes: 10, file: "f")?.kind == .hardLink)
        #expect(IngestValidator.check(kind: .symlink, links: 1, size: 1, maxBytes: 10, file: "f")?.kind == .symlink)
        for k: IngestValidator.ObjectKind in [.fifo, .socket, .device, .directory, .other] {
            #expect(IngestValidator.check(kind: k, links: 1, size: 1, maxBytes: 10, file: "f")?.kind == .notRegularFile)
        }
    }

    func rejection(_ data: Data, _ name: String, max: Int = 100) -> IngestRejection? {
        if case .failure(let r) = IngestValidator.documents(data, name: name, file: "d/\(name)", maxDocuments: max) {
            return r
        }
        return nil
    }

    @Test func contentProblemsSayWhereAndWhat() {
        #expect(rejection(Data(), "a.txt")?.what == "the file is empty")
        #expect(rejection(Data([0x66, 0xFF, 0x0A]), "a.txt")?.what.contains("invalid UTF-8") == true)
        #expect(rejection(Data("{\"text\": 1}\n".utf8), "a.jsonl")?.what.contains("line 1") == true)
        #expect(rejection(Data("{\"text\": \"ok\"}\n{bad\n".utf8), "a.jsonl")?.what.contains("line 2") == true)
        #expect(rejection(Data("x".utf8), "a.pdf")?.what.contains("not supported") == true)
        #expect(rejection(Data("{\"text\":\"a\"}\n{\"text\":\"b\"}\n".utf8), "a.jsonl", max: 1)?.kind == .tooManyDocuments)
        #expect(rejection(Data("   \n".utf8), "a.txt") != nil)
    }

    @Test func acceptedDocumentsRoundTripAsJSONLines() throws {
        let docs: [TrainingExample] = [
            .text("plain \"quoted\"\nline"), .chat([.init(role: "user", content: "hi"), .init(role: "assistant", content: "yo")]),
            .promptCompletion(prompt: "2+2=", completion: "4"),
        ]
        for d in docs {
            let back = try DocumentReader.parse(IngestValidator.jsonLine(d), file: "x.jsonl").map(\.0)
            #expect(back == [d])
        }
    }
}

/// A document's side (train or holdout) is fixed when it is ingested and never moves.
@Suite struct HoldoutSidesTests {
    @Test func sidesFollowTheHashPositionBelowTheFraction() {
        #expect(Ingestor.sides(positions: [0.05, 0.5, 0.09, 0.9], fraction: 0.1, storedTrain: 0, storedHoldout: 0)
            == ["holdout", "train", "holdout", "train"])
    }

    @Test func aSmallDomainGetsItsMinimumHoldoutFromItsNewDocumentsOnly() {
        // Two documents, none below the fraction: the lower of the two is held out.
        #expect(Ingestor.sides(positions: [0.7, 0.3], fraction: 0.1, storedTrain: 0, storedHoldout: 0) == ["train", "holdout"])
        // One document alone stays for training; the next file's document becomes the holdout.
        #expect(Ingestor.sides(positions: [0.3], fraction: 0.1, storedTrain: 0, storedHoldout: 0) == ["train"])
        #expect(Ingestor.sides(positions: [0.9], fraction: 0.1, storedTrain: 1, storedHoldout: 0) == ["holdout"])
        // Once a holdout exists, new documents follow the fraction alone.
        #expect(Ingestor.sides(positions: [0.2], fraction: 0.1, storedTrain: 1, storedHoldout: 1) == ["train"])
    }

    /// Before, the split was recomputed over all of a domain's documents at every update with a minimum
    /// of one held out, so a later document with a lower hash took the holdout place of one that had been
    /// trained on, and the one held out moved to training. Sides are now fixed at ingest.
    @Test func addingDocumentsNeverMovesAStoredOne() throws {
        let dir = TempDirectory("sides")
        let registry = try Registry(path: "\(dir.path)/crmad.sqlite")
        let ingestor = try Ingestor(
            inbox: "\(dir.path)/inbox", registry: registry, blobs: try BlobStore(root: "\(dir.path)/blobs"),
            config: DaemonConfig.Ingest())
        // Texts by hash position, all above the 10% fraction: the minimum rule decides the holdout.
        func position(_ s: String) -> Double { HoldoutSplit.position(StoredDomain.splitKey(.text(s))) }
        let texts = (0..<400).map { "note \($0) about the ward round" }.filter { position($0) > 0.1 }
        let byPosition = texts.sorted { position($0) < position($1) }
        let (low, mid, high) = (byPosition[0], byPosition[byPosition.count / 2], byPosition.last!)
        func sides() throws -> [String: String] {
            var out: [String: String] = [:]
            for role in ["train", "holdout"] {
                for b in try registry.documentBlobs(domain: "med", role: role) { out[b] = role }
            }
            return out
        }
        dir.drop("inbox/med/a.jsonl", [mid, high].map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n"))
        _ = ingestor.scan()
        let first = try sides()
        #expect(first.values.sorted() == ["holdout", "train"])
        // A document with a lower hash than the held-out one arrives.
        dir.drop("inbox/med/b.jsonl", "{\"text\": \"\(low)\"}")
        _ = ingestor.scan()
        let second = try sides()
        #expect(second.count == 3)
        for (blob, side) in first { #expect(second[blob] == side) }
    }
}
