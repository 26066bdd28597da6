import Foundation
import CRMAWire
import Testing
@testable import CRMADaemon

/// Issue 6's list of bad inbox entries, each dropped on purpose with its expected outcome asserted: what
/// is refused moves to inbox/.rejected with an .error.json that says what and how to fix it; what is
/// acceptable is stored; nothing is lost and the ingestor keeps going.
@Suite struct BadInboxEntryTests {
    let dir = TempDirectory("bad-inbox")
    var inbox: String { "\(dir.path)/inbox" }

    func ingestor(maxBytes: Int = 1 << 20, maxDocuments: Int = 1000) throws -> Ingestor {
        var c = DaemonConfig.Ingest()
        c.maxFileBytes = maxBytes
        c.maxDocuments = maxDocuments
        return try Ingestor(
            inbox: inbox, registry: try Registry(path: "\(dir.path)/crmad.sqlite"),
            blobs: try BlobStore(root: "\(dir.path)/blobs"), config: c)
    }

    func write(_ rel: String, _ bytes: [UInt8]) {
        let path = "\(inbox)/\(rel)"
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    func write(_ rel: String, _ text: String) { write(rel, Array(text.utf8)) }

    /// What happened to each file, by its inbox-relative name.
    func outcomes(_ list: [Ingestor.Outcome]) -> [String: String] {
        var out: [String: String] = [:]
        for o in list {
            switch o {
            case .stored(_, let f, _): out[f] = "stored"
            case .duplicate(_, let f): out[f] = "duplicate"
            case .rejected(let r): out[r.file] = r.kind.rawValue
            case .deferred(let f): out[f] = "deferred"
            case .notStored(let f, _): out[f] = "not_stored"
            }
        }
        return out
    }

    /// Every refusal keeps the entry and explains itself.
    func expectExplained(_ rel: String) throws {
        let flat = rel.replacingOccurrences(of: "/", with: "__").replacingOccurrences(of: "\n", with: "\\n")
        let note = "\(inbox)/.rejected/\(flat).error.json"
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: note))) as? [String: Any]
        let r = try #require(json?["rejection"] as? [String: Any], "no explanation for \(rel)")
        #expect((r["what"] as? String)?.isEmpty == false)
        #expect((r["fix"] as? String)?.isEmpty == false)
        var st = stat()
        #expect(lstat("\(inbox)/.rejected/\(flat)", &st) == 0, "\(rel) was not kept in .rejected")
    }

    @Test func contentProblemsAreRefusedWithTheLineAndAFix() throws {
        let ing = try ingestor(maxBytes: 200_000, maxDocuments: 3)
        let cases: [(String, [UInt8], String)] = [
            ("med/empty.txt", [], "bad_content"),
            ("med/whitespace.txt", Array(" \n\t\n".utf8), "bad_content"),
            ("med/binary.txt", [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0xFF, 0xFE], "bad_content"),
            ("med/latin1.txt", Array("caf".utf8) + [0xE9, 0x0A], "bad_content"),
            ("med/nul.txt", Array("text with a NUL".utf8) + [0x00] + Array(" inside".utf8), "bad_content"),
            ("med/utf16.txt", [0xFF, 0xFE] + Array("hello".utf8).flatMap { [$0, 0x00] }, "bad_content"),
            ("med/malformed.jsonl", Array("{\"text\": \"ok\"}\n{text: unquoted}\n".utf8), "bad_content"),
            ("med/truncated.jsonl", Array("{\"text\": \"ok\"}\n{\"text\": \"cut off".utf8), "bad_content"),
            ("med/wrongtype.jsonl", Array("{\"text\": 42}\n".utf8), "bad_content"),
            ("med/array.jsonl", Array("[\"text\", \"a\"]\n".utf8), "bad_content"),
            ("med/null.jsonl", Array("null\n".utf8), "bad_content"),
            ("med/nofield.jsonl", Array("{\"body\": \"a\"}\n".utf8), "bad_content"),
            ("med/emptytext.jsonl", Array("{\"text\": \"   \"}\n".utf8), "bad_content"),
            (
                "med/deep.jsonl", Array(("{\"text\": " + String(repeating: "[", count: 100_000) + "\n").utf8),
                "bad_content"
            ),
            ("med/hugenumber.jsonl", Array("{\"text\": 1e999999999}\n".utf8), "bad_content"),
            ("med/notes.pdf", Array("%PDF-1.7".utf8), "bad_content"),
            ("med/too-big.txt", Array(String(repeating: "x", count: 200_001).utf8), "too_large"),
            ("med/many.jsonl", Array(documents(4) { "doc \($0)" }.utf8), "too_many_documents"),
        ]
        for (rel, bytes, _) in cases { write(rel, bytes) }
        let got = outcomes(ing.scan())
        for (rel, _, expected) in cases {
            #expect(got[rel] == expected, "\(rel): \(got[rel] ?? "nothing")")
            try expectExplained(rel)
        }
        // The line and what to do are named.
        let note = try String(contentsOfFile: "\(inbox)/.rejected/med__malformed.jsonl.error.json", encoding: .utf8)
        #expect(note.contains("line 2"))
        let nul = try String(contentsOfFile: "\(inbox)/.rejected/med__nul.txt.error.json", encoding: .utf8)
        #expect(nul.contains("NUL"))
        #expect(try ing.registry.files().isEmpty)
    }

    @Test func oddButValidEntriesAreStored() throws {
        let ing = try ingestor()
        write("med/with spaces in the name.txt", "a note with spaces in its file name")
        write("med/crlf.jsonl", "{\"text\": \"first\"}\r\n{\"text\": \"second\"}\r\n")
        write("med/extra-fields.jsonl", "{\"text\": \"kept\", \"n\": 123456789012345678901234567890}\n")
        write("med/one-line.txt", String(repeating: "one long line without a break ", count: 20_000))
        write("med/a..b.txt", "two dots inside a name are just a name")
        write("med/ünïcödé.md", "# Unicode file names are fine")
        let got = outcomes(ing.scan())
        for rel in [
            "med/with spaces in the name.txt", "med/crlf.jsonl", "med/extra-fields.jsonl", "med/one-line.txt",
            "med/a..b.txt", "med/ünïcödé.md",
        ] {
            #expect(got[rel] == "stored", "\(rel): \(got[rel] ?? "nothing") \(got)")
            #expect(!dir.exists("inbox/\(rel)"))
        }
        #expect(try ing.registry.files().count == 6)
    }

    @Test func aFiftyMegabyteLineIsOneDocument() throws {
        let ing = try ingestor(maxBytes: 64 << 20)
        let line = String(repeating: "a fifty megabyte line of text. ", count: 50 * 1024 * 1024 / 31)
        write("med/huge.jsonl", "{\"text\": \"\(line)\"}\n")
        #expect(outcomes(ing.scan()) == ["med/huge.jsonl": "stored"])
        #expect(try ing.registry.files().first?.documents == 1)
    }

    @Test func namesThatCannotBeTakenAreRefused() throws {
        let ing = try ingestor()
        write("med/new\nline.txt", "a name with a newline")
        write("med/tab\there.txt", "a name with a tab")
        // A name that is not UTF-8 (Latin-1 "café"), made with raw bytes.
        try FileManager.default.createDirectory(atPath: "\(inbox)/med", withIntermediateDirectories: true)
        let raw: [UInt8] = Array("\(inbox)/med/caf".utf8) + [0xE9] + Array(".txt".utf8) + [0]
        let fd = raw.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644) }
        #expect(fd >= 0)
        _ = "latin-1 name".withCString { Glibc.write(fd, $0, 12) }
        close(fd)
        write("Medical/a.txt", "upper-case domain")
        write("med.v2/a.txt", "a dot in the domain")
        write("my domain/a.txt", "a space in the domain")
        write("med/nested/a.txt", "a domain with a slash: med/nested")
        write("stray.txt", "not in a domain directory")
        let got = outcomes(ing.scan())
        #expect(got["med/new\nline.txt"] == "bad_file_name")
        #expect(got["med/tab\there.txt"] == "bad_file_name")
        #expect(got.contains { $0.key.hasPrefix("med/caf") && $0.value == "bad_file_name" }, "\(got)")
        #expect(got["Medical"] == "bad_domain_name" && got["med.v2"] == "bad_domain_name")
        #expect(got["my domain"] == "bad_domain_name")
        #expect(got["med/nested"] == "not_a_regular_file")
        #expect(got["stray.txt"] == "outside_a_domain_directory")
        for rel in ["med/new\nline.txt", "Medical", "med.v2", "my domain", "med/nested", "stray.txt"] {
            try expectExplained(rel)
        }
        // Nothing is left behind in the inbox but the rejected directory.
        #expect(dir.list("inbox") == [".rejected", "med"])
        #expect(dir.list("inbox/med").isEmpty)
        // A 300-character domain cannot even be a directory name (255 bytes at most); the rule refuses it.
        #expect(DomainName.validate(String(repeating: "d", count: 300))?.contains("at most 64") == true)
        #expect(mkdir("\(inbox)/" + String(repeating: "d", count: 300), 0o755) != 0 && errno == ENAMETOOLONG)
        // Dot-names are temporary files by convention (rsync, editors): left alone until renamed.
        write("med/.partial.txt", "being written")
        write("med/..hidden.txt", "also a dot-name")
        #expect(ing.scan().isEmpty)
        #expect(dir.exists("inbox/med/.partial.txt") && dir.exists("inbox/med/..hidden.txt"))
    }

    @Test func specialFilesAndLinksAreNotFollowed() throws {
        let ing = try ingestor()
        write("med/real.txt", "the real file")
        symlink("/etc/shadow", "\(inbox)/med/shadow.txt")
        symlink("\(inbox)/med/real.txt", "\(inbox)/med/link-to-real.txt")
        write("med/twice.txt", "hard linked")
        link("\(inbox)/med/twice.txt", "\(inbox)/med/twice-again.txt")
        mkfifo("\(inbox)/med/pipe.txt", 0o600)
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let sockPath = "\(inbox)/med/s.txt"
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in sockPath.utf8.enumerated() where i < p.count - 1 { p[i] = b }
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        defer { close(sock) }
        try FileManager.default.createDirectory(atPath: "\(inbox)/med/folder.txt", withIntermediateDirectories: true)
        let got = outcomes(ing.scan())
        #expect(got["med/real.txt"] == "stored")
        #expect(got["med/shadow.txt"] == "symlink" && got["med/link-to-real.txt"] == "symlink")
        #expect(got["med/twice.txt"] == "hard_link" && got["med/twice-again.txt"] == "hard_link")
        #expect(got["med/pipe.txt"] == "not_a_regular_file")
        #expect(got["med/s.txt"] == "not_a_regular_file")
        #expect(got["med/folder.txt"] == "not_a_regular_file")
        for rel in ["med/shadow.txt", "med/link-to-real.txt", "med/twice.txt", "med/pipe.txt", "med/s.txt", "med/folder.txt"] {
            try expectExplained(rel)
        }
        // The links' targets are untouched.
        #expect(FileManager.default.fileExists(atPath: "/etc/shadow"))
    }

    @Test(.enabled(if: geteuid() == 0, "creating a device node needs CAP_MKNOD"))
    func aDeviceNodeIsRefused() throws {
        let ing = try ingestor()
        try FileManager.default.createDirectory(atPath: "\(inbox)/med", withIntermediateDirectories: true)
        #expect(mknod("\(inbox)/med/null.txt", S_IFCHR | 0o600, dev_t(0x103)) == 0)  // major 1, minor 3: like /dev/null
        #expect(outcomes(ing.scan()) == ["med/null.txt": "not_a_regular_file"])
        try expectExplained("med/null.txt")
    }

    @Test func permissionDeniedIsRefusedWithTheFix() throws {
        let ing = try ingestor()
        write("med/secret.txt", "unreadable")
        chmod("\(inbox)/med/secret.txt", 0)
        // Root reads any file; the rule is checked on the error the daemon's user would get.
        if geteuid() == 0 {
            let r = ing.unreadable("med/secret.txt", errno: EACCES)
            #expect(r.kind == .unreadable && r.fix.contains("readable by the crmad user"))
        } else {
            #expect(outcomes(ing.scan()) == ["med/secret.txt": "unreadable"])
            try expectExplained("med/secret.txt")
        }
    }

    @Test func aFileThatGrowsOrIsReplacedWhileBeingReadIsNotTakenHalfWritten() throws {
        let ing = try ingestor()
        write("med/growing.txt", "first part")
        ing.afterRead = { path in
            let h = FileHandle(forWritingAtPath: path)!
            h.seekToEndOfFile()
            h.write(Data(" and the rest".utf8))
            h.closeFile()
        }
        #expect(ing.ingest(domain: "med", name: "growing.txt") == .deferred(file: "med/growing.txt"))
        ing.afterRead = nil
        #expect(ing.ingest(domain: "med", name: "growing.txt") == .stored(domain: "med", file: "med/growing.txt", documents: 1))
        let stored = try ing.registry.documentBlobs(domain: "med", role: "train")
            + ing.registry.documentBlobs(domain: "med", role: "holdout")
        let text = try String(contentsOfFile: ing.blobs.path(stored[0]), encoding: .utf8)
        #expect(text.contains("first part and the rest"))

        // Replaced by a rename while being read: the old content is stored, the new file stays for later.
        write("med/replaced.txt", "old version")
        ing.afterRead = { [inbox] path in
            _ = FileManager.default.createFile(atPath: "\(inbox)/med/.new", contents: Data("new version".utf8))
            rename("\(inbox)/med/.new", path)
        }
        #expect(ing.ingest(domain: "med", name: "replaced.txt") == .stored(domain: "med", file: "med/replaced.txt", documents: 1))
        ing.afterRead = nil
        #expect(dir.exists("inbox/med/replaced.txt"))
        #expect(ing.ingest(domain: "med", name: "replaced.txt") == .stored(domain: "med", file: "med/replaced.txt", documents: 1))
        #expect(try ing.registry.files().count == 3)
    }

    @Test func tenThousandTinyFilesAtOnceAreAllStored() throws {
        let ing = try ingestor()
        for i in 0..<10_000 { write("bulk/\(i).txt", "tiny document number \(i)") }
        let got = outcomes(ing.scan())
        #expect(got.count == 10_000 && got.values.allSatisfy { $0 == "stored" })
        #expect(dir.list("inbox/bulk").isEmpty)
        #expect(try ing.registry.files().count == 10_000)
    }
}
