import CRMAContinual
import CRMAModel
import CRMATraining
import CRMAWire
import Foundation

/// A domain's stored documents as the update pipeline reads them. Each document's side (train or holdout)
/// was fixed when it was ingested and never moves; a domain's holdout rows are pinned (stored as a blob)
/// when it is learned, so the gate always judges it on the rows its reference was measured on.
public enum StoredDomain {
    /// What the holdout split hashes: the document with a salt of our own, so data that was already split
    /// upstream by the same hash (as `make corpora` does) is not all on one side.
    public static func splitKey(_ example: TrainingExample) -> String { "crmad-holdout\u{1F}" + example.canonicalText }

    /// The domain's training rows and its current holdout rows (the first `holdoutRows` rows packed from
    /// its holdout documents in hash order), with the documents they came from.
    public struct Loaded {
        public var data: DomainData
        /// Blob hashes of the holdout documents, in packing order.
        public var holdoutDocuments: [String]
        /// Blob hashes of every document of the domain.
        public var documentHashes: [String]
    }

    /// The blob hashes of a domain's documents on each side, in packing order.
    public struct Documents: Sendable, Codable, Equatable {
        public var train: [String]
        public var holdout: [String]

        /// The domain's documents as stored now.
        public static func current(_ domain: String, registry: Registry) throws -> Documents {
            Documents(
                train: try registry.documentBlobs(domain: domain, role: "train"),
                holdout: try registry.documentBlobs(domain: domain, role: "holdout"))
        }
    }

    /// `documents`: the documents to read (a job's, fixed when it started); nil: as stored now.
    public static func load(
        domain: String, registry: Registry, blobs: BlobStore, tokenizer: Tokenizer, sequenceLength: Int,
        holdoutRows: Int, packTrain: Bool = true, documents: Documents? = nil
    ) throws -> Loaded {
        let docs = try documents ?? Documents.current(domain, registry: registry)
        let (train, holdout) = (docs.train, docs.holdout)
        let et = ExampleTokenizer(tokenizer: tokenizer)
        let packer = SequencePacker(seqLen: sequenceLength, padToken: tokenizer.eosID ?? 0)
        func rows(_ hashes: [String]) throws -> [PackedRow] {
            var docs: [TokenizedDocument] = []
            for h in hashes {
                docs += try DocumentReader.parse(try blobs.get(h), file: "\(h).jsonl").map { et.tokenize($0.0) }
            }
            return packer.pack(docs)
        }
        return Loaded(
            data: DomainData(
                name: domain, train: packTrain ? try rows(train) : [],
                holdout: Array(try rows(holdout).prefix(holdoutRows))),
            holdoutDocuments: holdout, documentHashes: (train + holdout).sorted())
    }

    /// Stores packed rows as a blob (JSON); returns its hash.
    public static func pin(_ rows: [PackedRow], blobs: BlobStore) throws -> String {
        try blobs.put(try JSONEncoder().encode(rows))
    }

    /// The rows a lineage entry pinned.
    public static func pinnedRows(_ lineage: DomainLineage, blobs: BlobStore) throws -> [PackedRow] {
        try JSONDecoder().decode([PackedRow].self, from: try blobs.get(lineage.holdoutRows))
    }
}
