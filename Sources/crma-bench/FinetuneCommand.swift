import ArgumentParser
import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMANumerics
import CRMATraining
import Foundation

/// Fine-tunes LoRA (+ CRMA) on a directory of domain text and reports the domain's holdout loss
/// before and after: the end-to-end proof that training learns.
struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Train on a directory of documents and report holdout loss before and after.",
        discussion: """
            Files with .txt, .md or .jsonl are read as training data; with --as-text every regular file is one \
            text document (e.g. source code). Documents are split into train and holdout by content hash, \
            packed into rows of --seq-len, and trained for --steps optimizer steps of --batch rows.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Directory of documents.")
    var data: String

    @Flag(help: "Read every file as one text document, whatever its extension.")
    var asText = false

    @Option(help: "Use at most this many files (sorted by name).")
    var maxFiles = 400

    @Option(help: "Optimizer steps.")
    var steps = 100

    @Option(help: "Rows per step.")
    var batch = 4

    @Option(help: "Sequence length.")
    var seqLen = 256

    @Option(help: "Holdout fraction.")
    var holdout = 0.1

    @Flag(help: "Train without the CRMA substrate.")
    var noCrma = false

    @Option(help: "Holdout rows scored (at most).")
    var holdoutRows = 32

    func run() throws {
        let lm = try common.load()
        let files = try FileManager.default.contentsOfDirectory(atPath: data).sorted().prefix(maxFiles)
        var examples: [TrainingExample] = []
        for f in files {
            let path = (data as NSString).appendingPathComponent(f)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { continue }
            if asText {
                guard let d = FileManager.default.contents(atPath: path), let s = String(data: d, encoding: .utf8),
                    !s.isEmpty
                else { continue }
                examples.append(.text(s))
            } else {
                examples += try DocumentReader.read(file: path).map(\.0)
            }
        }
        let split = HoldoutSplit(fraction: holdout, minimum: 1).split(examples.map(\.canonicalText))
        let et = ExampleTokenizer(tokenizer: lm.tokenizer)
        let packer = SequencePacker(seqLen: seqLen, padToken: lm.tokenizer.eosID ?? 0)
        let trainRows = packer.pack(split.train.map { et.tokenize(examples[$0]) })
        let holdRows = Array(packer.pack(split.holdout.map { et.tokenize(examples[$0]) }).prefix(holdoutRows))
        guard !trainRows.isEmpty, !holdRows.isEmpty else { throw ValidationError("not enough data in \(data)") }

        let lora = LoRA(name: "domain", config: LoRAConfig(), model: lm.model.config, seed: 1)
        let crma = noCrma ? nil : CRMA(config: CRMAConfig(), model: lm.model, seed: 1)
        let adapters = AdapterSet(loras: [lora], crma: crma)
        let trainer = Trainer(model: lm.model, adapters: adapters, config: OptimizerConfig(), totalSteps: steps)
        func holdoutLoss() -> Double { HoldoutScorer.score(model: lm.model, adapters: adapters, rows: holdRows).mean }
        let before = holdoutLoss()
        var sampler = BatchSampler(rows: trainRows, batchSize: batch, seed: 1)
        let t0 = Measure.now()
        var losses: [Double] = []
        for s in 0..<steps {
            let r = try trainer.step([SequencePacker.batch(sampler.next())])
            losses.append(r.loss)
            if !common.json, s % 10 == 0 || s == steps - 1 {
                let elapsed = Measure.now() - t0
                let eta = elapsed / Double(s + 1) * Double(steps - s - 1)
                FileHandle.standardError.write(
                    Data(
                        String(
                            format: "step %d/%d  loss %.4f  lr×%.3f  ‖M‖₂−1 %.1e  eta %.0fs\n", s + 1, steps, r.loss,
                            r.learningRateMultiplier, r.crmaHealth?.maxSpectralExcess ?? 0, eta
                        ).utf8))
            }
        }
        let after = holdoutLoss()
        Output.print(
            [
                "model": common.model, "data": data, "documents": examples.count, "train_documents": split.train.count,
                "holdout_documents": split.holdout.count, "train_rows": trainRows.count, "holdout_rows": holdRows.count,
                "steps": steps, "holdout_loss_before": before, "holdout_loss_after": after,
                "holdout_change_percent": 100 * (after - before) / before, "first_train_loss": losses.first ?? .nan,
                "last_train_loss": losses.last ?? .nan, "seconds": Measure.now() - t0, "crma": crma != nil,
            ], json: common.json)
    }
}
