import CRMAModel
import CRMATraining
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

@Suite struct JobMachineTests {
    func next(_ e: JobEvent, _ s: JobState) -> JobState? { try? JobMachine.apply(e, to: s).get().state }

    @Test func theHappyPathAndItsActions() throws {
        #expect(try JobMachine.apply(.start, to: .queued).get() == .init(state: .training, actions: [.train(resume: false)]))
        #expect(next(.trained, .training) == .evaluating)
        let accepted = try JobMachine.apply(.accept, to: .evaluating).get()
        #expect(accepted.state == .accepted)
        #expect(accepted.actions.contains(.promote))
        let rolled = try JobMachine.apply(.rollback, to: .evaluating).get()
        #expect(rolled.state == .rolledBack)
        #expect(rolled.actions.contains(.keepActiveVersion) && !rolled.actions.contains(.promote))
    }

    @Test func restartResumesFromCheckpointOrReEvaluates() throws {
        #expect(try JobMachine.apply(.recover, to: .training).get().actions == [.train(resume: true)])
        #expect(try JobMachine.apply(.recover, to: .evaluating).get().actions == [.evaluate])
    }

    @Test func cancelAndFailFromEveryLiveState() {
        for s: JobState in [.queued, .training, .evaluating] {
            #expect(next(.cancel, s) == .cancelled)
            #expect(next(.fail("x"), s) == .failed)
        }
    }

    @Test func finalStatesTakeNoEvent() {
        let events: [JobEvent] = [.start, .trained, .accept, .rollback, .fail("x"), .cancel, .recover]
        for s in JobState.allCases where s.isFinal {
            for e in events { #expect(next(e, s) == nil, "\(s) took \(e)") }
        }
        #expect(next(.accept, .training) == nil)
        #expect(next(.trained, .queued) == nil)
        #expect(next(.start, .training) == nil)
    }
}
