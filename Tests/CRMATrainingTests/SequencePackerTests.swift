import Testing
@testable import CRMATraining

@Suite struct SequencePackerTests {
    let packer = SequencePacker(seqLen: 8, padToken: 0)

    @Test func targetsNeverCrossDocumentsAndEveryTokenIsPredictedOnce() {
        let docs = [
            TokenizedDocument(tokens: [1, 2, 3]), TokenizedDocument(tokens: [10, 11, 12, 13]),
            TokenizedDocument(tokens: [20, 21]),
        ]
        let rows = packer.pack(docs)
        #expect(rows.count == 2)  // 3 + 4 fit in 8; 2 more do not
        #expect(rows[0].tokens == [1, 2, 3, 10, 11, 12, 13, 0])
        #expect(rows[0].targets == [2, 3, -1, 11, 12, 13, -1, -1])
        #expect(rows[0].positions == [0, 1, 2, 0, 1, 2, 3, 0])
        #expect(rows[0].segmentStarts == [0, 0, 0, 3, 3, 3, 3, 7])
        #expect(rows[1].targets.filter { $0 >= 0 } == [21])
    }

    @Test func longDocumentsAreWindowedWithOneTokenOverlap() {
        let doc = TokenizedDocument(tokens: (1...20).map(Int32.init))
        let rows = packer.pack([doc])
        let predicted = rows.flatMap(\.targets).filter { $0 >= 0 }
        #expect(predicted == (2...20).map(Int32.init))
        #expect(rows.allSatisfy { $0.positions[0] == 0 })
    }

    @Test func lossMaskRemovesTargets() {
        let doc = TokenizedDocument(tokens: [5, 6, 7, 8], lossMask: [false, false, true, true])
        #expect(packer.pack([doc])[0].targets.prefix(4) == [-1, 7, 8, -1])
    }

    @Test func samplerIsSeededAndCoversEveryRowEachEpoch() {
        let rows = (0..<10).map { i in PackedRow(tokens: [Int32(i)], targets: [1], positions: [0], segmentStarts: [0]) }
        var a = BatchSampler(rows: rows, batchSize: 5, seed: 3), b = BatchSampler(rows: rows, batchSize: 5, seed: 3)
        let epoch = a.next() + a.next()
        #expect(Set(epoch.map { $0.tokens[0] }) == Set((0..<10).map(Int32.init)))
        #expect(epoch == b.next() + b.next())
        // Seeking to a saved cursor continues identically.
        var c = BatchSampler(rows: rows, batchSize: 5, seed: 3)
        c.seek(a.cursor)
        #expect(c.next() == a.next())
    }
}

@Suite struct OptimizerPartsTests {
    @Test func cosineScheduleWarmsUpThenDecaysToZero() {
        let s = CosineSchedule(total: 100, warmupFraction: 0.03)
        #expect(s.warmup == 3)
        #expect(s.multiplier(at: 0) < s.multiplier(at: 2))
        #expect(abs(s.multiplier(at: 3) - 1) < 1e-6)
        #expect(s.multiplier(at: 50) < 1 && s.multiplier(at: 50) > s.multiplier(at: 90))
        #expect(s.multiplier(at: 100) == 0)
    }
}
