import CRMAAdapters
import CRMANumerics
import Foundation

/// Norms of one clipping family before and after clipping.
public struct ClipReport: Sendable, Equatable, Codable {
    public var before: Float
    public var after: Float
}

/// Global-norm clipping, per family (LoRA and CRMA separately, crma.md §5), with an optional ZClip
/// mode: the threshold follows an EMA of the norm's mean and variance and clips z-score outliers.
public struct GradientClipper: Sendable, Codable, Equatable {
    public let config: OptimizerConfig
    /// ZClip state per family: EMA of the norm and of its square, and how many norms were seen.
    var emaMean: [ClipFamily: Double] = [:]
    var emaSquare: [ClipFamily: Double] = [:]
    var seen: [ClipFamily: Int] = [:]

    public init(config: OptimizerConfig) { self.config = config }

    public static func norm(_ params: [Parameter]) -> Float {
        var s = 0.0
        for p in params { for i in 0..<p.count { s += Double(p.grad[i]) * Double(p.grad[i]) } }
        return Float(s.squareRoot())
    }

    /// Clips each family's gradients in place; returns the norms before and after per family.
    public mutating func clip(_ params: [Parameter]) -> [ClipFamily: ClipReport] {
        var reports: [ClipFamily: ClipReport] = [:]
        for family in [ClipFamily.lora, .crma] {
            let group = params.filter { $0.family == family }
            guard !group.isEmpty else { continue }
            let n = Self.norm(group)
            var threshold = config.clipNorm
            if config.zclip { threshold = zThreshold(family, n) }
            var after = n
            if threshold > 0, n > threshold, n.isFinite {
                let scale = threshold / n
                for p in group { for i in 0..<p.count { p.grad[i] *= scale } }
                after = threshold
            }
            reports[family] = ClipReport(before: n, after: after)
        }
        return reports
    }

    /// ZClip: during the first few norms use the fixed threshold, then clip to mean + z·std of the EMA.
    mutating func zThreshold(_ family: ClipFamily, _ n: Float) -> Float {
        let a = Double(config.zclipAlpha)
        let count = seen[family, default: 0]
        var threshold = config.clipNorm
        if count >= 10, let mean = emaMean[family], let sq = emaSquare[family] {
            let std = max(sq - mean * mean, 0).squareRoot()
            threshold = Float(mean + Double(config.zclipZ) * std)
        }
        let clipped = Double(threshold > 0 ? min(n, threshold) : n)
        emaMean[family] = count == 0 ? clipped : a * emaMean[family]! + (1 - a) * clipped
        emaSquare[family] = count == 0 ? clipped * clipped : a * emaSquare[family]! + (1 - a) * clipped * clipped
        seen[family] = count + 1
        return threshold
    }
}
