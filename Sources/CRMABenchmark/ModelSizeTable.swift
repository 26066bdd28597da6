import CRMAMonitor
import Foundation

extension ForgettingReport {
    /// The claim at several model sizes (issue 27 §4), one row per model's merged results: naive's and
    /// crma's average drift after the last update, crma − frozen and crma-identity − frozen (crma.md §7's
    /// advantage: positive when the earlier domains score better than with a frozen per-domain LoRA), crma
    /// − frozen on those domains right after each was learned (the part of the advantage that is learning
    /// rather than remembering), and how much crma's loss rises when its substrate is switched off at
    /// inference (mean over domains; positive: the substrate helps). Ungated runs; each cell mean ± sample
    /// std over seeds, with the number of seeds in parentheses.
    public static func modelSizeTable(_ models: [(model: String, results: [StrategyResult])]) -> String {
        var md = "| model | naive: average drift (%) | crma: average drift (%) | crma − frozen (%) | "
        md += "crma-identity − frozen (%) | crma − frozen at learn time (%) | crma, substrate off: loss change (%) |\n"
        md += "|---|---|---|---|---|---|---|\n"
        for (model, results) in models {
            let substrateOff = results.filter { $0.strategy == "crma" }.compactMap { r -> Double? in
                guard let a = r.substrateAblation, !a.isEmpty else { return nil }
                return mean(a.values.map { 100 * ($0.lossWithout - $0.lossWith) / $0.lossWith })
            }
            let cells = [averageDrifts("naive", results), averageDrifts("crma", results), advantageOverFrozen("crma", results),
                         advantageOverFrozen("crma-identity", results),
                         advantageOverFrozen("crma", results, atLearnTime: true), substrateOff]
            md += "| \(model) | " + cells.map { $0.isEmpty ? "–" : "\(pm($0)) (\($0.count))" }.joined(separator: " | ") + " |\n"
        }
        return md
    }
}
