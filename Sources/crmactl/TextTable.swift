import CRMAWire
import Foundation

/// Left-aligned columns for terminals.
enum TextTable {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    static func time(_ t: Double?) -> String {
        guard let t else { return "-" }
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    static func number(_ x: Double?, _ format: String = "%.4f") -> String {
        x.map { String(format: format, $0) } ?? "-"
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600
            ? String(format: "%dh%02dm", t / 3600, t % 3600 / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }

    /// `[#####-----] 12/40  loss 2.81  245 tok/s  ETA 1m58s`
    static func progress(_ job: JobProgress) -> String {
        let step = job.step
        let total = max(1, job.totalSteps)
        let width = 30
        let filled = min(width, width * step / total)
        var s = "\(job.phase) \(job.domain) ["
        s +=
            String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] \(step)/\(total)"
        if let l = job.loss { s += String(format: "  loss %.3f", l) }
        if let t = job.tokensPerSecond, t > 0 { s += String(format: "  %.0f tok/s", t) }
        if let e = job.etaSeconds { s += "  ETA \(duration(e))" }
        if let c = job.cluster {
            s += "  slurm \(c.job) \(c.state)" + (c.node.isEmpty ? "" : " on \(c.node)")
            if c.resubmissions > 0 { s += " (resubmitted \(c.resubmissions)×)" }
        }
        return s
    }
}
