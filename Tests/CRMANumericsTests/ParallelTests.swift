import Testing
@testable import CRMANumerics

@Suite struct ParallelTests {
    /// One sequence's attention blocks (9 heads × 4 causal blocks, costs 64…256) split evenly over two
    /// workers, every job exactly once; one job per head would have left a ninth of the time idle.
    @Test func longestFirstBalancesCausalBlocks() {
        let costs: [Double] = (0..<9).flatMap { _ in [64, 128, 192, 256] }
        let plan = Parallel.longestFirst(costs: costs, workers: 2)
        #expect(plan.count == 2)
        #expect(plan.flatMap { $0 }.sorted() == Array(costs.indices))
        let loads = plan.map { $0.reduce(0) { $0 + costs[$1] } }
        #expect(loads.max()! - loads.min()! <= 64)
    }

    @Test func longestFirstNeverMakesEmptyWorkers() {
        #expect(Parallel.longestFirst(costs: [3], workers: 2) == [[0]])
        #expect(Parallel.longestFirst(costs: [], workers: 2).isEmpty)
        #expect(Parallel.longestFirst(costs: [1, 5, 2], workers: 8).count == 3)
    }
}
