import CRMAModel
import CRMATraining
import Foundation

/// The pure checks of ingest: what an inbox entry is (from its name and `fstat`), and whether its
/// bytes are acceptable documents. No file access here, so every rule has a direct test.
public enum IngestValidator {
    /// What the daemon should do with a name in a domain directory before opening it.
    public enum NameVerdict: Equatable, Sendable {
        /// Still being written (dot-file, `*.tmp`, `*.part`): leave it until it is renamed.
        case ignoreForNow
        case consider
        case reject(String)
    }

    public static func classify(name: String) -> NameVerdict {
        if name.hasPrefix(".") || name.hasSuffix(".tmp") || name.hasSuffix(".part") { return .ignoreForNow }
        if name.contains("\n") || name.contains("\r") || name.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            return .reject("the file name contains control characters (a newline?)")
        }
        if name.contains("\u{FFFD}") { return .reject("the file name is not valid UTF-8") }
        return .consider
    }

    /// The kind of filesystem object, as `fstat`/`lstat` report it.
    public enum ObjectKind: Sendable, Equatable {
        case regular, directory, symlink, fifo, socket, device, other
        public init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFREG: self = .regular
            case S_IFDIR: self = .directory
            case S_IFLNK: self = .symlink
            case S_IFIFO: self = .fifo
            case S_IFSOCK: self = .socket
            case S_IFCHR, S_IFBLK: self = .device
            default: self = .other
            }
        }
    }

    /// Checks the object's kind, link count and size before its bytes are read.
    public static func check(
        kind: ObjectKind, links: Int, size: Int, maxBytes: Int, file: String
    ) -> IngestRejection? {
        switch kind {
        case .regular: break
        case .symlink:
            return IngestRejection(
                .symlink, file: file, what: "symbolic links are not followed",
                fix: "copy the file itself into the inbox (cp -L), do not link it")
        case .directory:
            return IngestRejection(
                .notRegularFile, file: file, what: "a directory inside a domain directory",
                fix: "put files directly in inbox/<domain>/; nested directories are not read")
        default:
            return IngestRejection(
                .notRegularFile, file: file, what: "not a regular file (\(kind))",
                fix: "only regular .txt, .md and .jsonl files are ingested")
        }
        if links > 1 {
            return IngestRejection(
                .hardLink, file: file, what: "the file has \(links) hard links, so it can change under another name",
                fix: "copy the file into the inbox instead of hard-linking it")
        }
        if size > maxBytes {
            return IngestRejection(
                .tooLarge, file: file, what: "\(size) bytes is above the limit of \(maxBytes)",
                fix: "split it into smaller files or raise ingest.max_file_bytes")
        }
        return nil
    }

    /// Parses the file's bytes into documents (all or nothing).
    public static func documents(
        _ data: Data, name: String, file: String, maxDocuments: Int
    ) -> Result<[TrainingExample], IngestRejection> {
        if data.isEmpty {
            return .failure(
                IngestRejection(.badContent, file: file, what: "the file is empty", fix: "drop a file with text in it"))
        }
        if let nul = data.firstIndex(of: 0) {
            let looksUTF16 = data.count >= 2 && ((data[data.startIndex] == 0xFF && data[data.startIndex + 1] == 0xFE)
                || (data[data.startIndex] == 0xFE && data[data.startIndex + 1] == 0xFF))
            return .failure(
                IngestRejection(
                    .badContent, file: file,
                    what: "byte \(nul - data.startIndex) is a NUL byte: "
                        + (looksUTF16 ? "the file looks like UTF-16 text" : "the file looks binary"),
                    fix: looksUTF16
                        ? "re-encode it as UTF-8 (iconv -f UTF-16 -t UTF-8) and drop it again"
                        : "drop text (UTF-8 .txt, .md or .jsonl), not binary files"))
        }
        do {
            let docs = try DocumentReader.parse(data, file: name).map(\.0)
            if docs.isEmpty {
                return .failure(
                    IngestRejection(
                        .badContent, file: file, what: "the file holds no documents",
                        fix: "add at least one non-empty document"))
            }
            if docs.count > maxDocuments {
                return .failure(
                    IngestRejection(
                        .tooManyDocuments, file: file,
                        what: "\(docs.count) documents is above the limit of \(maxDocuments)",
                        fix: "split the file or raise ingest.max_documents"))
            }
            return .success(docs)
        } catch let e as DataError {
            // The reader's detail already says how to fix it (re-encode, which JSON shape, …).
            let fix = "fix the file and drop it into the inbox again"
            let at = e.line.map { "line \($0): " } ?? ""
            return .failure(IngestRejection(.badContent, file: file, what: "\(at)\(e.kind.rawValue): \(e.detail)", fix: fix))
        } catch {
            return .failure(IngestRejection(.badContent, file: file, what: "\(error)", fix: "check the file's format"))
        }
    }

    /// One document as a JSONL line, the form documents are stored in.
    public static func jsonLine(_ example: TrainingExample) -> Data {
        let object: [String: Any]
        switch example {
        case .text(let s): object = ["text": s]
        case .chat(let m): object = ["messages": m.map { ["role": $0.role, "content": $0.content] }]
        case .promptCompletion(let p, let c): object = ["prompt": p, "completion": c]
        }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}
