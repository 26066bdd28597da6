import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMATraining

/// Scores holdout rows: token-mean cross-entropy, and per-row (sum, tokens) for bootstrap intervals.
public enum HoldoutScorer {
    public static func score(model: LlamaModel, adapters: AdapterSet, rows: [PackedRow]) -> (
        mean: Double, perRow: [DocumentLoss]
    ) {
        let pass = LlamaTrainingPass(model: model, hooks: adapters)
        var perRow: [DocumentLoss] = []
        var total = 0.0, tokens = 0
        // Row by row: the bootstrap needs each row's own sum (a row holds one or a few documents).
        for row in rows {
            let b = SequencePacker.batch([row])
            let n = b.lossTokenCount
            guard n > 0 else { continue }
            let mean = pass.forward(b)
            perRow.append(DocumentLoss(sumNLL: mean * Double(n), tokens: n))
            total += mean * Double(n)
            tokens += n
        }
        return (tokens > 0 ? total / Double(tokens) : .nan, perRow)
    }
}
