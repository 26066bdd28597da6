import Foundation
import Testing
@testable import CRMADaemon

/// The operator reference (docs/daemon.md) lists every alert crmad raises with its MESSAGE_ID and priority,
/// exactly as `AlertKind` defines them: a new alert, or a changed id, fails here until the table says so.
@Suite struct AlertTableTests {
    struct Row: Equatable {
        var kind: String, messageID: String, priority: Int
    }

    /// The rows of the table headed `| alert | MESSAGE_ID | priority | when |`.
    static func documentedRows() throws -> [Row] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/daemon.md"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let header = lines.firstIndex(of: "| alert | MESSAGE_ID | priority | when |") else { return [] }
        return lines[(header + 2)...].prefix { $0.hasPrefix("|") }.map { line in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            func code(_ s: String) -> String { s.trimmingCharacters(in: CharacterSet(charactersIn: "`")) }
            return Row(
                kind: code(cells[0]), messageID: code(cells[1]),
                priority: Int(cells[2].prefix { $0.isNumber }) ?? -1)
        }
    }

    @Test func theOperatorReferenceListsEveryAlertAsDefined() throws {
        let defined = AlertKind.allCases.map { Row(kind: $0.rawValue, messageID: $0.messageID, priority: $0.priority) }
        #expect(try Self.documentedRows() == defined)
    }
}
