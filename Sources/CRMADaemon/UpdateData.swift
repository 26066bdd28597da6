import CRMAModel
import CRMATraining
import Foundation

/// A domain's stored documents turned into packed training and holdout rows. The split is by
/// document hash (HoldoutSplit), so it is the same every time the same documents are read.
public struct UpdateData: Sendable {
    public var train: [PackedRow]
    public var holdout: [PackedRow]
    public var documentHashes: [String]

    /// What the holdout split hashes: the document with a salt of our own, so data that was already split
    /// upstream by the same hash (as `make corpora` does) is not all on one side.
    public static func splitKey(_ example: TrainingExample) -> String { "crmad-holdout\u{1F}" + example.canonicalText }

    public static func load(
        domain: String, registry: Registry, blobs: BlobStore, tokenizer: Tokenizer, sequenceLength: Int,
        holdoutFraction: Double, holdoutRows: Int, packTrain: Bool = true
    ) throws -> UpdateData {
        let hashes = try (registry.documentBlobs(domain: domain, role: "train")
            + registry.documentBlobs(domain: domain, role: "holdout")).sorted()
        var examples: [TrainingExample] = []
        for h in hashes {
            examples += try DocumentReader.parse(try blobs.get(h), file: "\(h).jsonl").map(\.0)
        }
        let split = HoldoutSplit(fraction: holdoutFraction, minimum: 1).split(examples.map { splitKey($0) })
        let et = ExampleTokenizer(tokenizer: tokenizer)
        let packer = SequencePacker(seqLen: sequenceLength, padToken: tokenizer.eosID ?? 0)
        let train = packTrain ? packer.pack(split.train.map { et.tokenize(examples[$0]) }) : []
        let holdout = packer.pack(split.holdout.map { et.tokenize(examples[$0]) })
        return UpdateData(train: train, holdout: Array(holdout.prefix(holdoutRows)), documentHashes: hashes)
    }
}
