import Foundation

/// Accumulates wall time per named phase (forward GEMMs, attention, element-wise, …) for benchmarks.
/// Not thread-safe: one clock per thread of work.
public final class PhaseClock {
    public private(set) var seconds: [String: Double] = [:]
    private var started: Double = 0
    private var current: String?

    public init() {}

    /// Ends the running phase (if any) and starts `phase`.
    public func enter(_ phase: String) {
        let t = Self.now()
        if let current { seconds[current, default: 0] += t - started }
        current = phase
        started = t
    }

    /// Ends the running phase.
    public func stop() {
        if let current { seconds[current, default: 0] += Self.now() - started }
        current = nil
    }

    public func reset() { seconds = [:]; current = nil }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
