import Dispatch
import Foundation

/// A raw pointer that may cross into `concurrentPerform` workers.
///
/// - Important: `@unchecked Sendable` is safe only because every caller partitions the buffer so that
///   no two workers write the same element.
public struct SendablePointer<T>: @unchecked Sendable {
    public let p: UnsafeMutablePointer<T>
    public init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}

public enum Parallel {
    /// Runs `body(chunk)` for `chunks` disjoint chunks on the machine's cores and waits for all.
    public static func forEach(_ chunks: Int, _ body: @Sendable (Int) -> Void) {
        if chunks <= 1 { if chunks == 1 { body(0) }; return }
        DispatchQueue.concurrentPerform(iterations: chunks, execute: body)
    }
}

extension Parallel {
    /// Splits `rows` into contiguous ranges, one per core, and runs `body(range)` for each in parallel.
    /// Small jobs (fewer than `minRows` rows) run inline.
    public static func rows(_ rows: Int, minRows: Int = 16, _ body: @Sendable (Range<Int>) -> Void) {
        let workers = min(cores, max(1, rows / max(minRows, 1)))
        if workers <= 1 { body(0..<rows); return }
        forEach(workers) { w in
            let lo = rows * w / workers, hi = rows * (w + 1) / workers
            body(lo..<hi)
        }
    }

    /// Deals jobs of the given costs to `min(cores, jobs)` workers, longest first, each to the least-loaded
    /// worker so far (within 4/3 of the best split): job indices per worker, for ``forEach(_:_:)``.
    public static func longestFirst(costs: [Double], workers: Int = cores) -> [[Int]] {
        let n = min(max(workers, 1), costs.count)
        guard n > 1 else { return costs.isEmpty ? [] : [Array(costs.indices)] }
        var plan = [[Int]](repeating: [], count: n), load = [Double](repeating: 0, count: n)
        for j in costs.indices.sorted(by: { costs[$0] > costs[$1] }) {
            let w = load.indices.min { load[$0] < load[$1] }!
            plan[w].append(j)
            load[w] += costs[j]
        }
        return plan
    }

    /// Cores available to this process.
    public static let cores = ProcessInfo.processInfo.activeProcessorCount
}
