import CRMAModel
import CRMAMonitor
import CRMATraining
import CRMAWire
import Foundation

/// The general baseline benchmarks an update is judged on besides the domains (crma.md §6–7): bits per
/// byte on general text, multiple-choice accuracy per task, and KL(base ‖ current) with top-1 agreement on
/// a probe set. The benchmark and the daemon read and score it the same way.
public struct GeneralSuite: Sendable, Equatable, Codable {
    public var documents: [String] = []
    public var multipleChoice: [String: [MultipleChoiceItem]] = [:]
    public var probes: [String] = []

    public init(documents: [String] = [], multipleChoice: [String: [MultipleChoiceItem]] = [:], probes: [String] = []) {
        self.documents = documents
        self.multipleChoice = multipleChoice
        self.probes = probes
    }

    public var isEmpty: Bool { documents.isEmpty && multipleChoice.isEmpty && probes.isEmpty }

    /// Reads `dir/general.jsonl` (the first `documents` texts score bits per byte, the next `probes` are
    /// the probe set) and `dir/<task>.jsonl` for each multiple-choice task present (`items` each).
    public static func load(_ dir: String, documents: Int, probes: Int, tasks: [String], items: Int) throws
        -> GeneralSuite
    {
        var g = GeneralSuite()
        let general = (dir as NSString).appendingPathComponent("general.jsonl")
        if FileManager.default.fileExists(atPath: general) {
            let texts = try DocumentReader.read(file: general).compactMap {
                if case .text(let s) = $0.0 { s } else { nil }
            }
            g.documents = Array(texts.prefix(documents))
            g.probes = Array(texts.dropFirst(documents).prefix(probes))
        }
        for task in tasks where items > 0 {
            let path = (dir as NSString).appendingPathComponent("\(task).jsonl")
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let all = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
                try JSONDecoder().decode(MultipleChoiceItem.self, from: Data($0.utf8))
            }
            g.multipleChoice[task] = Array(all.prefix(items))
        }
        return g
    }

    /// Every score of the suite under `hooks` (nil: the base model), by name: `general_bits_per_byte`,
    /// `<task>_acc`, `<task>_acc_norm`, and with adapters `probe_kl_base_current`, `probe_top1_agreement`.
    public func scores(model: LlamaModel, tokenizer: Tokenizer, context: Int, hooks: (any LlamaAdapterHooks)?)
        -> [String: Double]
    {
        let bench = GeneralBenchmarks(model: model, tokenizer: tokenizer, context: context)
        var out: [String: Double] = [:]
        if !documents.isEmpty { out["general_bits_per_byte"] = bench.bitsPerByte(documents, hooks: hooks) }
        for (task, items) in multipleChoice.sorted(by: { $0.key < $1.key }) {
            let (acc, norm) = bench.multipleChoice(items, hooks: hooks)
            out["\(task)_acc"] = acc
            out["\(task)_acc_norm"] = norm
        }
        if let hooks, !probes.isEmpty {
            let (kl, top1) = bench.distributionShift(probes: probes, hooks: hooks)
            out["probe_kl_base_current"] = kl
            out["probe_top1_agreement"] = top1
        }
        return out
    }

    /// The gate's view of `scores` against the base model's (every score that has a base value, named
    /// `general:<score>`): bits per byte by its relative change against the gate's thresholds; accuracy
    /// (`*_acc`, `*_acc_norm`, in points) and KL(base ‖ current) (nats, reference 0) by their absolute
    /// change against `limits`. Top-1 agreement is reported, not judged (KL measures the same shift).
    public static func metrics(_ scores: [String: Double], base: [String: Double], limits: GeneralLimits)
        -> [MonitoredMetric]
    {
        scores.keys.sorted().compactMap { name in
            guard let value = scores[name] else { return nil }
            if name == "probe_kl_base_current" {
                return MonitoredMetric(
                    name: .general(score: name), kind: .benchmark, value: value, reference: 0, absoluteThresholds: limits.kl)
            }
            guard let reference = base[name], name != "probe_top1_agreement" else {
                // Reported only, but a score that is not finite still stops the update.
                return value.isFinite
                    ? nil
                    : MonitoredMetric(name: .general(score: name), kind: .benchmark, value: value, reference: 1)
            }
            if name.hasSuffix("_acc") || name.hasSuffix("_acc_norm") {
                return MonitoredMetric(
                    name: .general(score: name), kind: .benchmark, value: 100 * value, reference: 100 * reference,
                    lowerIsBetter: false, absoluteThresholds: limits.accuracyPoints)
            }
            return MonitoredMetric(name: .general(score: name), kind: .benchmark, value: value, reference: reference)
        }
    }
}

/// The absolute limits of the general metrics that have no useful relative change.
public struct GeneralLimits: Sendable, Equatable {
    /// Multiple-choice accuracy drop, in points.
    public var accuracyPoints: GateThresholds
    /// KL(base ‖ current) on the probe set, in nats per token.
    public var kl: GateThresholds

    public init(accuracyPoints: GateThresholds = GateThresholds(warn: 5, critical: 10, unit: " points"),
                kl: GateThresholds = GateThresholds(warn: 0.1, critical: 0.5, unit: " nats")) {
        self.accuracyPoints = accuracyPoints
        self.kl = kl
    }
}
