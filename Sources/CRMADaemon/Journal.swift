import CSystemd
import Foundation
import Logging

/// Sends structured entries to journald with `sd_journal_sendv`. Field names are upper case
/// (CRMA_DOMAIN, CRMA_DRIFT_PCT, …); MESSAGE, PRIORITY and MESSAGE_ID are set here.
public enum Journal {
    public static func send(message: String, priority: Int, fields: [String: String]) {
        var all = fields
        all["MESSAGE"] = message
        all["PRIORITY"] = String(priority)
        all["SYSLOG_IDENTIFIER"] = all["SYSLOG_IDENTIFIER"] ?? "crmad"
        let lines = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var storage = lines.map { Array($0.utf8) }
        var iov: [iovec] = []
        storage.withUnsafeMutableBufferPointer { bufs in
            for i in bufs.indices {
                bufs[i].withUnsafeMutableBytes { iov.append(iovec(iov_base: $0.baseAddress, iov_len: $0.count)) }
            }
            _ = iov.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }
}

/// swift-log → journald (structured: metadata become CRMA_* fields) and, in a terminal, readable
/// stderr lines. Under systemd stderr also reaches the journal, so only one of the two is used.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let toJournal: Bool

    /// `toJournal`: true under systemd (JOURNAL_STREAM set), false in a terminal.
    public init(label: String, toJournal: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil) {
        self.label = label
        self.toJournal = toJournal
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let m = event.metadata { merged.merge(m) { $1 } }
        if toJournal {
            var fields: [String: String] = [:]
            for (k, v) in merged { fields[Self.fieldName(k)] = "\(v)" }
            Journal.send(message: "\(event.message)", priority: Self.priority(event.level), fields: fields)
        } else {
            let meta = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let time = ISO8601DateFormatter().string(from: Date())
            FileHandle.standardError.write(Data("\(time) \(event.level) \(event.message)\(meta)\n".utf8))
        }
    }

    static func priority(_ l: Logger.Level) -> Int {
        switch l {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// `drift_pct` → `CRMA_DRIFT_PCT`; already upper-case journal fields (MESSAGE_ID) pass through.
    static func fieldName(_ key: String) -> String {
        let up = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let s = String(up)
        return key == key.uppercased() ? s : "CRMA_" + s
    }
}
