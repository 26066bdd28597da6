import Foundation

/// A fresh directory under the system temp dir, removed when the test's value goes away.
final class TempDirectory {
    let path: String

    init(_ label: String = "crmad") {
        path = NSTemporaryDirectory() + "\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` at `relative` atomically (temp name, then rename), as a well-behaved producer does.
    func drop(_ relative: String, _ text: String) {
        let full = "\(path)/\(relative)"
        try? FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full + ".part", contents: Data(text.utf8))
        rename(full + ".part", full)
    }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: "\(path)/\(relative)") }

    func list(_ relative: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(path)/\(relative)")) ?? []).sorted()
    }
}

/// JSONL text of `n` templated documents.
func documents(_ n: Int, _ make: (Int) -> String) -> String {
    (0..<n).map { i in
        let data = try! JSONSerialization.data(withJSONObject: ["text": make(i)])
        return String(decoding: data, as: UTF8.self)
    }.joined(separator: "\n") + "\n"
}
