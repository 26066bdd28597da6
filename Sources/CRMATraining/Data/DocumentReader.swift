import CRMAModel
import Foundation

/// Why a training file was refused: the file, the line when it has one, what is wrong and how to fix it.
public struct DataError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        case invalidUTF8 = "invalid UTF-8"
        case badJSON = "malformed JSON"
        case missingField = "missing field"
        case wrongType = "wrong type"
        case emptyDocument = "empty document"
        case unsupportedFormat = "unsupported file type"
        case unreadable = "unreadable file"
    }

    public var file: String
    public var line: Int?
    public var kind: Kind
    public var detail: String

    public var description: String {
        let at = line.map { "\(file):\($0)" } ?? file
        return "\(at): \(kind.rawValue): \(detail)"
    }
}

/// Reads training files into examples. A file is parsed completely before anything is returned, so a
/// malformed line rejects the whole file and nothing is half-ingested.
///
/// Formats: `.txt` and `.md` (the whole file is one document), `.jsonl` with one object per line of
/// the form `{"text": …}`, `{"messages": [{"role", "content"}, …]}` or `{"prompt": …, "completion": …}`.
public enum DocumentReader {
    public static let supportedExtensions = ["txt", "md", "jsonl"]

    public static func read(file path: String) throws -> [(TrainingExample, ExampleSource)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(
                file: path, line: nil, kind: .unreadable,
                detail: "cannot read the file; check it exists and is readable")
        }
        return try parse(data, file: path)
    }

    /// Parses file contents; `file` names the source (its extension selects the format).
    public static func parse(_ data: Data, file: String) throws -> [(TrainingExample, ExampleSource)] {
        let ext = (file as NSString).pathExtension.lowercased()
        guard supportedExtensions.contains(ext) else {
            throw DataError(
                file: file, line: nil, kind: .unsupportedFormat,
                detail: "\".\(ext)\" is not supported; use .txt, .md or .jsonl")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            let offset = firstInvalidUTF8(data)
            let line = data.prefix(offset).reduce(1) { $0 + ($1 == 10 ? 1 : 0) }
            throw DataError(
                file: file, line: line, kind: .invalidUTF8,
                detail: "byte \(offset) is not valid UTF-8; re-encode the file as UTF-8")
        }
        if ext == "jsonl" { return try parseJSONL(text, file: file) }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw DataError(file: file, line: nil, kind: .emptyDocument, detail: "the file has no text")
        }
        return [(.text(text), ExampleSource(file: file, line: nil))]
    }

    static func parseJSONL(_ text: String, file: String) throws -> [(TrainingExample, ExampleSource)] {
        var out: [(TrainingExample, ExampleSource)] = []
        // "\r\n" is one Character in Swift: split on both, or a CRLF file would be a single line.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (i, raw) in lines.enumerated() {
            let lineNo = i + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            func fail(_ kind: DataError.Kind, _ detail: String) -> DataError {
                DataError(file: file, line: lineNo, kind: kind, detail: detail)
            }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
            else {
                throw fail(.badJSON, "the line is not a JSON value; each line must be one JSON object")
            }
            guard let dict = obj as? [String: Any] else {
                throw fail(.wrongType, "expected a JSON object like {\"text\": \"…\"}")
            }
            let source = ExampleSource(file: file, line: lineNo)
            if let value = dict["text"] {
                guard let s = value as? String else { throw fail(.wrongType, "\"text\" must be a string") }
                guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                    throw fail(.emptyDocument, "\"text\" is empty")
                }
                out.append((.text(s), source))
            } else if let value = dict["messages"] {
                guard let list = value as? [Any] else { throw fail(.wrongType, "\"messages\" must be an array") }
                var messages: [ChatMessage] = []
                for (k, m) in list.enumerated() {
                    guard let md = m as? [String: Any] else {
                        throw fail(.wrongType, "messages[\(k)] must be an object")
                    }
                    guard let role = md["role"] else { throw fail(.missingField, "messages[\(k)] has no \"role\"") }
                    guard let content = md["content"] else {
                        throw fail(.missingField, "messages[\(k)] has no \"content\"")
                    }
                    guard let r = role as? String, ["system", "user", "assistant"].contains(r) else {
                        throw fail(.wrongType, "messages[\(k)].role must be \"system\", \"user\" or \"assistant\"")
                    }
                    guard let c = content as? String else {
                        throw fail(.wrongType, "messages[\(k)].content must be a string")
                    }
                    messages.append(ChatMessage(role: r, content: c))
                }
                guard messages.contains(where: { $0.role == "assistant" && !$0.content.isEmpty }) else {
                    throw fail(.emptyDocument, "no non-empty assistant message: there is nothing to learn")
                }
                out.append((.chat(messages), source))
            } else if dict["prompt"] != nil || dict["completion"] != nil {
                guard let p = dict["prompt"] else { throw fail(.missingField, "\"completion\" without \"prompt\"") }
                guard let c = dict["completion"] else { throw fail(.missingField, "\"prompt\" without \"completion\"") }
                guard let ps = p as? String else { throw fail(.wrongType, "\"prompt\" must be a string") }
                guard let cs = c as? String else { throw fail(.wrongType, "\"completion\" must be a string") }
                guard !cs.isEmpty else { throw fail(.emptyDocument, "\"completion\" is empty") }
                out.append((.promptCompletion(prompt: ps, completion: cs), source))
            } else {
                throw fail(.missingField, "expected \"text\", \"messages\" or \"prompt\"+\"completion\"")
            }
        }
        guard !out.isEmpty else {
            throw DataError(file: file, line: nil, kind: .emptyDocument, detail: "the file has no records")
        }
        return out
    }

    static func firstInvalidUTF8(_ data: Data) -> Int {
        var i = 0
        let bytes = [UInt8](data)
        while i < bytes.count {
            let b = bytes[i]
            let n = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            if n == 0 || i + n > bytes.count { return i }
            if n > 1, String(bytes: bytes[i..<(i + n)], encoding: .utf8) == nil { return i }
            i += n
        }
        return bytes.count
    }
}
