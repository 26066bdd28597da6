import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMATestSupport
import CRMATraining
import Foundation
import Testing
@testable import CRMABenchmark
@testable import CRMAContinual

/// The forgetting benchmark's whole code path on the tiny model: files in, results.json, report.md and
/// drift.svg out.
@Suite struct ForgettingBenchmarkTests {
    func writeJSONL(_ rows: [[String: Any]], _ path: String) throws {
        let lines = try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func writesResultsReportAndChart() throws {
        let lm = try TinyModels.load("llama-f32")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("crma-forget-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let families: [(String, (Int) -> String)] = [
            ("animals", { "The \(["cat", "dog", "owl"][$0 % 3]) sleeps under the \(["tree", "table"][$0 % 2])." }),
            ("numbers", { "\($0 * 7) plus \($0 * 3) equals \($0 * 10)." }),
        ]
        for (name, gen) in families {
            try FileManager.default.createDirectory(
                atPath: "\(root)/corpora/\(name)", withIntermediateDirectories: true)
            try writeJSONL((0..<24).map { ["text": gen($0)] }, "\(root)/corpora/\(name)/train.jsonl")
            try writeJSONL((24..<30).map { ["text": gen($0)] }, "\(root)/corpora/\(name)/holdout.jsonl")
        }
        try FileManager.default.createDirectory(atPath: "\(root)/benchmarks", withIntermediateDirectories: true)
        try writeJSONL(
            (0..<3).map { ["text": "General text number \($0), with several words in it."] },
            "\(root)/benchmarks/general.jsonl")
        try writeJSONL(
            [["id": "a", "context": "The cat", "choices": [" sat", " flew"], "gold": 0]],
            "\(root)/benchmarks/arc_easy.jsonl")

        var s = ForgettingBenchmark.Settings()
        s.strategies = [.naive, .frozen, .crma]
        s.seeds = [0, 1]
        s.seqLen = 32
        s.config.stepsPerDomain = 6
        s.config.batchRows = 2
        s.config.lora = .init(rank: 2, alpha: 4, targets: [.q, .v])
        s.generalDocuments = 2
        s.probeDocuments = 1
        let bench = ForgettingBenchmark(lm: lm, settings: s)
        let domains = try bench.loadDomains("\(root)/corpora", names: ["animals", "numbers"])
        var lines: [String] = []
        let (results, base) = try bench.run(domains: domains, general: try bench.loadGeneral("\(root)/benchmarks")) {
            lines.append($0)
        }
        #expect(results.count == 6)
        // One line for scoring the base model, then one per domain learned (2 domains × 3 strategies × 2 seeds).
        #expect(lines.count == 13)
        #expect(lines.first?.hasPrefix("scoring the base model") == true)
        #expect(base["arc_easy_acc"] != nil && base["general_bits_per_byte"] != nil)
        #expect(results.allSatisfy { $0.general["probe_top1_agreement"] != nil })
        // frozen: the earlier domain's loss is unchanged, so its drift and interval are exactly 0.
        let frozen = results.first { $0.strategy == "frozen" }!
        #expect(ForgettingMetrics.driftVsLearnTime(frozen.matrix, k: 1, j: 0) == 0)
        #expect(frozen.driftIntervals[1][0] == Interval(low: 0, high: 0))

        let out = "\(root)/out"
        try ForgettingBenchmark.write(
            results, base: base, command: "crma-bench forgetting (test)", settings: [:], to: out)
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(report.contains("| domain | naive | frozen | crma |"))
        #expect(report.contains("| animals |"))
        #expect(report.contains("## Bootstrap 95% intervals"))
        #expect(report.contains("Advantage over frozen"))
        let svg = try String(contentsOfFile: out + "/drift.svg", encoding: .utf8)
        #expect(svg.components(separatedBy: "<polyline").count == 4)
        #expect(report.contains("relative change vs the base model"))
        // results.json holds everything the report needs: re-rendering reproduces it exactly.
        try ForgettingBenchmark.rerender(resultsJSON: out + "/results.json", to: "\(root)/again")
        #expect(try String(contentsOfFile: "\(root)/again/report.md", encoding: .utf8) == report)
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/results.json")))
            as! [String: Any]
        #expect((json["results"] as? [Any])?.count == 6)
    }
}
