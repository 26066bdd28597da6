import CRMAContinual
import CRMAMonitor
import CRMAWire
import Foundation

/// The results of one strategy and seed in the forgetting benchmark.
public struct StrategyResult: Sendable, Codable {
    public var strategy: String
    public var seed: UInt64
    public var matrix: LossMatrix
    public var baseLosses: [Double]
    /// `driftInterval[k][j]`: bootstrap 95% interval of drift vs learn time (j < k).
    public var driftIntervals: [[Interval?]]
    public var seconds: Double
    /// General benchmark scores of the substrate after the last update, and of the base model.
    public var general: [String: Double]
    /// lwf: what the teacher cost per domain (absent for other strategies and older results).
    public var teacherCosts: [String: TeacherCost]?
    /// The gate's decision on every update (absent in older results).
    public var decisions: [UpdateDecision]?
    /// Whether rolled-back updates were dropped, as crmad does (the strategy is then named `<s>+gate`).
    public var gated: Bool?
    /// Task domains: `accuracy[k][j]`, exact-match accuracy of the greedy answer (0…1) on domain j's
    /// holdout after update k, and the base model's; nil for domains without answers.
    public var accuracy: [[Double?]]?
    public var baseAccuracy: [Double?]?
    /// `accuracyIntervals[k][j]`: bootstrap 95% interval of accuracy after update k minus at learn time
    /// (fraction, j < k).
    public var accuracyIntervals: [[Interval?]]?
    /// After the last update, each domain scored with the CRMA substrate on and off (crma strategies).
    public var substrateAblation: [String: SubstrateAblation]?
}

/// The inference-time CRMA ablation of one domain: its holdout loss and answer accuracy with the
/// substrate enabled (as trained) and disabled (its LoRA alone).
public struct SubstrateAblation: Sendable, Codable, Equatable {
    public var lossWith: Double
    public var lossWithout: Double
    public var accuracyWith: Double?
    public var accuracyWithout: Double?

    public init(lossWith: Double, lossWithout: Double, accuracyWith: Double?, accuracyWithout: Double?) {
        self.lossWith = lossWith
        self.lossWithout = lossWithout
        self.accuracyWith = accuracyWith
        self.accuracyWithout = accuracyWithout
    }
}

/// Renders the forgetting benchmark's tables and chart from results (pure: strings in, strings out).
public enum ForgettingReport {
    /// Strategy names in first-seen order, once each.
    static func orderedStrategies(_ results: [StrategyResult]) -> [String] {
        var seen: Set<String> = []
        return results.map(\.strategy).filter { seen.insert($0).inserted }
    }

    static func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(max(x.count, 1)) }

    static func sampleStd(_ x: [Double]) -> Double {
        guard x.count > 1 else { return 0 }
        let m = mean(x)
        return (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
    }

    static func pm(_ x: [Double], digits: Int = 2) -> String {
        x.count > 1
            ? String(format: "%+.\(digits)f ± %.\(digits)f", mean(x), sampleStd(x))
            : String(format: "%+.\(digits)f", mean(x))
    }

    /// report.md: drift of each prior domain after the last update per strategy (mean ± sample std over
    /// seeds, with absolute losses), new-domain learning, the CRMA-over-frozen advantage, general
    /// benchmark changes and wall time.
    public static func markdown(_ results: [StrategyResult], base: [String: Double] = [:], command: String) -> String {
        let strategies = orderedStrategies(results)
        let domains = results.first?.matrix.domains ?? []
        let T = domains.count - 1
        var md = "# Forgetting benchmark\n\nCommand: `\(command)`\n\n"
        md +=
            "Seeds: \(Set(results.map(\.seed)).sorted().map(String.init).joined(separator: ", ")). Drift is the drift vs learn time of docs/architecture.md#metrics, "
        md +=
            "100 · (L[T][j] − L[j][j]) / L[j][j], after the last update T; positive = forgetting. Mean ± sample std over seeds; "
        md += "absolute holdout losses (nats/token) in brackets: at learn time → after the last update.\n\n"
        md +=
            "## Drift of each earlier domain after the last update (%)\n\n| domain | "
            + strategies.joined(separator: " | ") + " |\n|---|"
        md += String(repeating: "---|", count: strategies.count) + "\n"
        for j in 0..<max(T, 0) {
            md += "| \(domains[j]) |"
            for s in strategies {
                let rs = results.filter { $0.strategy == s }
                let drifts = rs.map { ForgettingMetrics.driftVsLearnTime($0.matrix, k: T, j: j) }
                let learn = mean(rs.map { $0.matrix[j, j] }), last = mean(rs.map { $0.matrix[T, j] })
                md += " \(pm(drifts)) [\(String(format: "%.3f → %.3f", learn, last))] |"
            }
            md += "\n"
        }
        md += "| **average** |"
        for s in strategies {
            md += " \(pm(averageDrifts(s, results))) |"
        }
        md += "\n\n" + intervalTable(results, strategies: strategies, domains: domains, last: T)
        md += summaryTable(results, strategies: strategies, domains: domains)
        md += publishedComparison(results, domains: domains)
        md += "\n## Learning each new domain (holdout loss: base model → right after learning it)\n\n| domain | "
        md +=
            strategies.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: strategies.count)
            + "\n"
        for (j, d) in domains.enumerated() {
            md += "| \(d) |"
            for s in strategies {
                let rs = results.filter { $0.strategy == s }
                md += String(
                    format: " %.3f → %.3f |", mean(rs.map { $0.baseLosses[j] }), mean(rs.map { $0.matrix[j, j] }))
            }
            md += "\n"
        }
        if strategies.contains("frozen") {
            md +=
                "\n## Advantage over frozen (docs/architecture.md#metrics, %, positive = earlier domains score better than with frozen)\n\n"
            md += "Beside it, the same comparison of each earlier domain right after it was learned: frozen never "
            md += "drifts, so the advantage is about that (learning) minus the strategy's drift since (remembering).\n\n"
            for s in strategies where s != "frozen" && s != "frozen+gate" {
                md += "- \(s): \(pm(advantageOverFrozen(s, results)))"
                md += " (at learn time \(pm(advantageOverFrozen(s, results, atLearnTime: true))))\n"
            }
        }
        let keys = Array(Set(results.flatMap { $0.general.keys })).sorted()
        if !keys.isEmpty {
            md +=
                "\n## General benchmarks of the substrate after the last update (relative change vs the base model)\n\n"
            md += "| metric | base | " + strategies.joined(separator: " | ") + " |\n|---|---|"
            md += String(repeating: "---|", count: strategies.count) + "\n"
            for k in keys {
                let b = base[k]
                md += "| \(k) | " + (b.map { String(format: "%.4f", $0) } ?? "–") + " |"
                for s in strategies {
                    let v = mean(results.filter { $0.strategy == s }.compactMap { $0.general[k] })
                    if let b, b != 0 {
                        md += String(format: " %.4f (%+.2f%%) |", v, 100 * (v - b) / abs(b))
                    } else {
                        md += String(format: " %.4f |", v)
                    }
                }
                md += "\n"
            }
        }
        md += accuracyTables(results, strategies: strategies, domains: domains)
        md += ablationTable(results, strategies: strategies, domains: domains)
        md += decisionTable(results, strategies: strategies, domains: domains)
        md += "\n## Wall time per run (s)\n\n"
        for s in strategies {
            md += String(format: "- %@: %.0f\n", s, mean(results.filter { $0.strategy == s }.map(\.seconds)))
        }
        let costs = results.compactMap { r in r.teacherCosts.map { (r.seed, $0) } }
        if !costs.isEmpty {
            md += "\n## lwf's teacher, per domain (mean over seeds)\n\n"
            md += "| domain | mode | training loop (s) | teacher computed ahead (s) | cache on disk (MB) |\n|---|---|---|---|---|\n"
            for d in domains {
                let c = costs.compactMap { $0.1[d] }
                guard let mode = c.first?.mode else { continue }
                md += String(
                    format: "| %@ | %@ | %.0f | %.0f | %.1f |\n", d, mode.rawValue, mean(c.map(\.trainingSeconds)),
                    mean(c.map(\.prefillSeconds)), mean(c.map { Double($0.bytesOnDisk) / 1e6 }))
            }
        }
        return md
    }

    /// Task domains: the drop in answer accuracy of each earlier domain from learn time to after the last
    /// update (points, mean ± std over seeds, with accuracies), each seed's bootstrap interval, and per
    /// strategy the whole accuracy matrix (mean over seeds) in the loss matrix's shape.
    static func accuracyTables(_ results: [StrategyResult], strategies: [String], domains: [String]) -> String {
        guard results.contains(where: { $0.accuracy != nil }), domains.count > 1 else { return "" }
        let T = domains.count - 1
        func acc(_ r: StrategyResult, _ k: Int, _ j: Int) -> Double? {
            guard let a = r.accuracy, k < a.count, j < a[k].count else { return nil }
            return a[k][j]
        }
        var md = "\n## Answer accuracy of each earlier domain: change from learn time to after the last update (points)\n\n"
        md += "Exact match of the greedy answer on the holdout (the accuracy drop of docs/architecture.md#metrics is the negative of this). "
        md += "Mean ± sample std over seeds; accuracy at learn time → after the last update in brackets.\n\n"
        md += "| domain | " + strategies.joined(separator: " | ") + " |\n|---|"
        md += String(repeating: "---|", count: strategies.count) + "\n"
        for j in 0..<T {
            md += "| \(domains[j]) |"
            for s in strategies {
                let rs = results.filter { $0.strategy == s }
                let pairs = rs.compactMap { r -> (Double, Double)? in
                    guard let a = acc(r, j, j), let b = acc(r, T, j) else { return nil }
                    return (a, b)
                }
                guard !pairs.isEmpty else {
                    md += " – |"
                    continue
                }
                md += " \(pm(pairs.map { 100 * ($0.1 - $0.0) }, digits: 1)) "
                md += String(format: "[%.0f%% → %.0f%%] |", 100 * mean(pairs.map(\.0)), 100 * mean(pairs.map(\.1)))
            }
            md += "\n"
        }
        md += "\nBootstrap 95% intervals of that change, per seed (points, 500 resamples of holdout items):\n\n"
        md += "| domain | " + strategies.joined(separator: " | ") + " |\n|---|"
        md += String(repeating: "---|", count: strategies.count) + "\n"
        for j in 0..<T {
            md += "| \(domains[j]) |"
            for s in strategies {
                let cells = results.filter { $0.strategy == s }.sorted { $0.seed < $1.seed }.map { r -> String in
                    guard let ii = r.accuracyIntervals, T < ii.count, j < ii[T].count, let i = ii[T][j] else { return "–" }
                    return String(format: "[%+.1f, %+.1f]", 100 * i.low, 100 * i.high)
                }
                md += " " + cells.joined(separator: " ") + " |"
            }
            md += "\n"
        }
        md += "\n### Accuracy after each update (%, mean over seeds; row: after learning, column: domain scored)\n"
        for s in strategies {
            let rs = results.filter { $0.strategy == s }
            md += "\n**\(s)** (base model: "
            md += domains.indices.map { j in
                let b = rs.compactMap { r in r.baseAccuracy.flatMap { j < $0.count ? $0[j] : nil } }
                return b.isEmpty ? "–" : String(format: "%.0f", 100 * mean(b))
            }.joined(separator: " / ") + ")\n\n"
            md += "| after | " + domains.joined(separator: " | ") + " |\n|---|"
            md += String(repeating: "---|", count: domains.count) + "\n"
            for k in 0...T {
                md += "| \(domains[k]) |"
                for j in 0..<domains.count {
                    let v = rs.compactMap { j <= k ? acc($0, k, j) : nil }
                    md += v.isEmpty ? " |" : String(format: " %.0f |", 100 * mean(v))
                }
                md += "\n"
            }
        }
        return md
    }

    /// The paper's inference-time CRMA ablation: every domain after the last update with the substrate
    /// on (as trained) and off (its LoRA alone).
    static func ablationTable(_ results: [StrategyResult], strategies: [String], domains: [String]) -> String {
        let rs = results.filter { $0.substrateAblation != nil }
        guard !rs.isEmpty else { return "" }
        var md = "\n## The substrate at inference: each domain after the last update, CRMA on vs off\n\n"
        md += "Holdout loss and answer accuracy with the substrate enabled → disabled (mean over seeds).\n\n"
        md += "| strategy | domain | loss on → off | accuracy on → off |\n|---|---|---|---|\n"
        for s in strategies {
            let ss = rs.filter { $0.strategy == s }
            guard !ss.isEmpty else { continue }
            for d in domains {
                let a = ss.compactMap { $0.substrateAblation?[d] }
                guard !a.isEmpty else { continue }
                let accWith = a.compactMap(\.accuracyWith), accWithout = a.compactMap(\.accuracyWithout)
                md += String(format: "| %@ | %@ | %.3f → %.3f |", s, d, mean(a.map(\.lossWith)), mean(a.map(\.lossWithout)))
                md +=
                    accWith.isEmpty
                    ? " – |\n" : String(format: " %.0f%% → %.0f%% |\n", 100 * mean(accWith), 100 * mean(accWithout))
            }
        }
        return md
    }

    /// What crmad's gate would have done with every update: accepted, warned (accepted with warnings) or
    /// rolled back, per seed, with the reasons of the first seed that was not plainly accepted.
    static func decisionTable(_ results: [StrategyResult], strategies: [String], domains: [String]) -> String {
        guard results.contains(where: { $0.decisions != nil }) else { return "" }
        var md = "\n## The gate's decision on every update (per seed; `+gate` columns dropped rolled-back updates, as crmad does)\n\n"
        md += "| update | " + strategies.joined(separator: " | ") + " |\n|---|"
        md += String(repeating: "---|", count: strategies.count) + "\n"
        var notes: [String] = []
        for (k, d) in domains.enumerated() {
            md += "| \(k + 1): \(d) |"
            for s in strategies {
                let rs = results.filter { $0.strategy == s }.sorted { $0.seed < $1.seed }
                let cells = rs.map { r -> String in
                    guard let ds = r.decisions, k < ds.count else { return "–" }
                    let short = ["accepted": "accept", "warned": "warn", "rolled_back": "ROLLBACK"][ds[k].outcome] ?? ds[k].outcome
                    return ds[k].stabilityStop == nil ? short : short + " (stopped at \(ds[k].steps))"
                }
                md += " " + cells.joined(separator: ", ") + " |"
                if let r = rs.first(where: { ($0.decisions.map { k < $0.count ? $0[k].outcome != "accepted" : false }) ?? false }),
                    let dec = r.decisions?[k]
                {
                    let why = dec.reasons.prefix(3).map(describe).joined(separator: "; ")
                    notes.append("- \(s), update \(k + 1) (\(d)), seed \(r.seed): \(dec.outcome.replacingOccurrences(of: "_", with: " ")): \(why)")
                }
            }
            md += "\n"
        }
        if !notes.isEmpty { md += "\nReasons:\n\n" + notes.joined(separator: "\n") + "\n" }
        return md
    }

    /// One gate reason in words (the sentence crmad's alerts use).
    public static func describe(_ r: GateReason) -> String { GateReasonRecord(r).sentence }

    /// Each seed's bootstrap 95% interval (over holdout rows) of each earlier domain's drift after the last
    /// update: whether a drift is larger than the holdout's own sampling noise.
    static func intervalTable(_ results: [StrategyResult], strategies: [String], domains: [String], last T: Int)
        -> String
    {
        guard T > 0 else { return "" }
        var md = "## Bootstrap 95% intervals of that drift, per seed (%, 500 resamples of holdout rows)\n\n| domain | "
        md += strategies.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: strategies.count) + "\n"
        for j in 0..<T {
            md += "| \(domains[j]) |"
            for s in strategies {
                let cells = results.filter { $0.strategy == s }.sorted { $0.seed < $1.seed }.map { r -> String in
                    guard T < r.driftIntervals.count, j < r.driftIntervals[T].count, let i = r.driftIntervals[T][j] else {
                        return "–"
                    }
                    return String(format: "[%+.2f, %+.2f]", i.low, i.high)
                }
                md += " " + cells.joined(separator: " ") + " |"
            }
            md += "\n"
        }
        return md
    }

    /// drift.svg: the mean drift (over seeds and earlier domains) after each update, one line per strategy.
    public static func svg(_ results: [StrategyResult]) -> String {
        let strategies = orderedStrategies(results)
        let updates = results.first?.matrix.updates ?? 0
        var series: [(String, [Double])] = []
        for s in strategies {
            let rs = results.filter { $0.strategy == s }
            series.append(
                (
                    s,
                    (1..<max(updates, 1)).map { k in
                        mean(rs.compactMap { ForgettingMetrics.averageDrift($0.matrix, k: k) })
                    }
                ))
        }
        let values = series.flatMap(\.1) + [0]
        let lo = min(values.min()!, 0), hi = max(values.max()!, 1)
        let w = 640.0, h = 360.0, left = 60.0, right = 140.0, top = 20.0, bottom = 40.0
        func x(_ i: Int) -> Double { left + (w - left - right) * Double(i) / Double(max(updates - 2, 1)) }
        func y(_ v: Double) -> Double { top + (h - top - bottom) * (hi - v) / (hi - lo) }
        let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += String(
            format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", left, y(0), w - right,
            y(0))
        svg += String(
            format: "<text x=\"10\" y=\"%.1f\">%.1f%%</text><text x=\"10\" y=\"%.1f\">%.1f%%</text>\n", y(hi) + 4, hi,
            y(lo), lo)
        for k in 1..<max(updates, 1) {
            svg += String(
                format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">after %@</text>\n", x(k - 1), h - 15,
                results[0].matrix.domains[k])
        }
        for (i, (name, v)) in series.enumerated() {
            let c = colors[i % colors.count]
            let pts = v.enumerated().map { String(format: "%.1f,%.1f", x($0.offset), y($0.element)) }.joined(
                separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"\(pts)\"/>\n"
            svg += String(
                format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"%@\">%@</text>\n", w - right + 8, top + 16 * Double(i + 1),
                c, name)
        }
        svg += "<text x=\"\(Int(left))\" y=\"14\">mean drift of earlier domains vs learn time (%)</text>\n</svg>\n"
        return svg
    }
}
