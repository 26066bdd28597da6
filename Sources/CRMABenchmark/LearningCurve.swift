import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMATraining
import Foundation

/// A learning curve: one strategy learns one domain from the base model through the update pipeline
/// (``DomainUpdate``), and the domain's holdout loss and greedy-answer accuracy are measured every
/// `every` epochs. One run per planned length: the cosine schedule spans the run, so the point at epoch 2
/// of a 4-epoch run is not what a 2-epoch run ends with, and both are shown.
public struct LearningCurve {
    /// One measurement during a run.
    public struct Point: Codable, Sendable, Equatable {
        public var epoch: Double
        public var step: Int
        /// Token-mean cross-entropy on the holdout rows (nats/token).
        public var holdoutLoss: Double
        /// Mean training loss of the steps since the previous point (nil at step 0).
        public var trainLoss: Double?
        /// Exact-match accuracy of the greedy answer on the answer items (nil without items).
        public var accuracy: Double?
    }

    /// One run planned for `epochs` epochs.
    public struct Run: Codable, Sendable {
        public var epochs: Double
        public var steps: Int
        public var points: [Point]
        public var seconds: Double
    }

    public let model: LlamaModel
    public let config: ContinualConfig

    public init(model: LlamaModel, config: ContinualConfig) {
        self.model = model
        self.config = config
    }

    /// The steps at which a run of `steps` steps over `rows` training rows is measured: every `every`
    /// epochs, and the last step.
    public static func measuredSteps(steps: Int, rows: Int, batchRows: Int, every: Double) -> [Int] {
        let perEpoch = Double(rows) / Double(batchRows)
        let stride = max(1, Int((perEpoch * every).rounded()))
        var at = Array(Swift.stride(from: stride, to: steps, by: stride))
        at.append(steps)
        return at
    }

    /// Trains `domain` for `epochs` epochs (cosine schedule over them), measuring at step 0 (the base
    /// model, unless `base` is that measurement already) and at ``measuredSteps(steps:rows:batchRows:every:)``.
    public func run(
        _ domain: DomainData, answers: [AnswerItem], epochs: Double, every: Double, seed: UInt64, base: Point? = nil,
        log: (String) -> Void = { _ in }
    ) throws -> Run {
        var c = config
        c.epochs = epochs
        let update = DomainUpdate(model: model, config: c)
        let job = DomainUpdate.Job(domain: domain, seed: seed)
        let steps = update.totalSteps(job)
        let at = Set(Self.measuredSteps(steps: steps, rows: domain.train.count, batchRows: c.batchRows, every: every))
        let perEpoch = Double(domain.train.count) / Double(c.batchRows)
        let started = Date()
        func measure(_ step: Int, _ state: LearnedState?, trainLoss: Double?) -> Point {
            let adapters = state?.adapters(scoring: domain.name, learnedWith: c.strategy) ?? AdapterSet()
            let loss = HoldoutScorer.score(model: model, adapters: adapters, rows: domain.holdout).mean
            let accuracy =
                answers.isEmpty
                ? nil : AnswerAccuracy.rate(AnswerAccuracy.correct(answers, model: model, hooks: state == nil ? nil : adapters))
            let p = Point(
                epoch: Double(step) / perEpoch, step: step, holdoutLoss: loss, trainLoss: trainLoss, accuracy: accuracy)
            log(
                String(
                    format: "%@ %.1f epochs: step %d/%d (epoch %.2f), holdout %.4f%@, %.0f s", domain.name, epochs, step,
                    steps, p.epoch, loss, accuracy.map { String(format: ", accuracy %.1f%%", 100 * $0) } ?? "",
                    Date().timeIntervalSince(started)))
            return p
        }
        var points = [base ?? measure(0, nil, trainLoss: nil)]
        var lossSum = 0.0, lossSteps = 0
        let outcome = try update.train(
            job, parent: .empty,
            progress: { event in
                if case .step(let report, _, _) = event, !report.skipped {
                    lossSum += report.loss
                    lossSteps += 1
                }
                return .more
            },
            inspect: { step, state in
                guard at.contains(step) else { return }
                points.append(measure(step, state, trainLoss: lossSteps > 0 ? lossSum / Double(lossSteps) : nil))
                (lossSum, lossSteps) = (0, 0)
            })
        guard case .trained = outcome else { fatalError("a learning curve is never stopped") }
        return Run(epochs: epochs, steps: steps, points: points, seconds: Date().timeIntervalSince(started))
    }

    /// curve.md: one table per run (epoch, holdout loss, accuracy, training loss) and every run's end.
    public static func markdown(_ runs: [Run], domain: String, strategy: String, command: String) -> String {
        var md = "# Learning curve: \(domain), \(strategy)\n\nCommand: `\(command)`\n\n"
        md += "Holdout loss in nats/token on the domain's holdout rows; accuracy is the greedy answer's exact match. "
        md += "Each run's cosine schedule spans its own length.\n\n## Where each run ends\n\n"
        md += "| epochs | steps | holdout loss | accuracy | seconds |\n|---|---|---|---|---|\n"
        for r in runs {
            let end = r.points.last!
            md += "| \(fmt(r.epochs)) | \(r.steps) | \(String(format: "%.4f", end.holdoutLoss)) | \(pct(end.accuracy)) | \(Int(r.seconds)) |\n"
        }
        for r in runs {
            md += "\n## \(fmt(r.epochs))-epoch run\n\n| epoch | step | holdout loss | accuracy | training loss |\n|---|---|---|---|---|\n"
            for p in r.points {
                md += "| \(String(format: "%.2f", p.epoch)) | \(p.step) | \(String(format: "%.4f", p.holdoutLoss)) | \(pct(p.accuracy)) | "
                md += "\(p.trainLoss.map { String(format: "%.4f", $0) } ?? "–") |\n"
            }
        }
        return md
    }

    static func fmt(_ x: Double) -> String { x == x.rounded() ? "\(Int(x))" : "\(x)" }
    static func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", 100 * $0) } ?? "–" }
}
