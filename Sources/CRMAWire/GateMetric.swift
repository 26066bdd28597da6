/// What the gate judged: one monitored quantity, typed. It crosses the wire, the registry and journald as
/// its text form (`holdout:medical`, `holdout:medical:previous`, `general:piqa_acc`, …), which
/// ``init(_:)`` reads back; code compares and switches on the cases, never on the text.
public enum MetricID: Hashable, Sendable, CustomStringConvertible {
    /// An earlier domain's holdout loss on the rows pinned when it was learned (`holdout:<domain>`).
    case holdout(domain: String)
    /// A domain learned again: its loss on the rows of its previous learning (`holdout:<domain>:previous`).
    case previousRows(domain: String)
    /// The slices of a domain's holdout the mid-update stability check scores (`holdout-slice:<domain>`).
    case holdoutSlice(domain: String)
    /// A general benchmark's score (`general:<score>`, e.g. `general:piqa_acc`).
    case general(score: String)
    /// The new domain's own holdout loss, judged against the base model's (did it learn at all?).
    case newDomainHoldout
    /// The version a candidate was built on (a stale candidate: another version became active).
    case parentVersion
    /// A name this version of crma does not know (kept as written).
    case other(String)

    /// Reads the text form; anything unknown is ``other(_:)``.
    public init(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("holdout", 2) where !parts[1].isEmpty: self = .holdout(domain: parts[1])
        case ("holdout", 3) where !parts[1].isEmpty && parts[2] == "previous": self = .previousRows(domain: parts[1])
        case ("holdout-slice", 2) where !parts[1].isEmpty: self = .holdoutSlice(domain: parts[1])
        case ("general", _) where parts.count >= 2 && !parts[1].isEmpty:
            self = .general(score: String(text.dropFirst("general:".count)))
        default:
            switch text {
            case Self.newDomainHoldout.description: self = .newDomainHoldout
            case Self.parentVersion.description: self = .parentVersion
            default: self = .other(text)
            }
        }
    }

    public var description: String {
        switch self {
        case .holdout(let d): "holdout:\(d)"
        case .previousRows(let d): "holdout:\(d):previous"
        case .holdoutSlice(let d): "holdout-slice:\(d)"
        case .general(let s): "general:\(s)"
        case .newDomainHoldout: "new domain holdout loss"
        case .parentVersion: "parent version"
        case .other(let s): s
        }
    }

    /// The domain a holdout metric is about (nil for the general benchmarks and the rest).
    public var domain: String? {
        switch self {
        case .holdout(let d), .previousRows(let d), .holdoutSlice(let d): d
        default: nil
        }
    }
}

extension MetricID: Codable {
    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension MetricID: ExpressibleByStringLiteral {
    public init(stringLiteral text: String) { self.init(text) }
}

/// How serious a gate reason is. Stored and sent by its raw value.
public enum GateSeverity: String, Sendable, Codable, CaseIterable {
    /// Above the warn threshold: reported, the update is accepted.
    case warning
    /// Above the critical threshold: the update is rolled back.
    case critical
    /// The new domain's holdout loss is not below the base model's: rolled back.
    case notLearned = "not_learned"
    /// A loss or score that is NaN or infinite: nothing can be judged, so the update is rolled back.
    case nonFinite = "non_finite"
    /// Accepted by the gate, but its parent stopped being the active version: stored, not promoted.
    case stale

    /// Whether a reason of this severity stops a promotion (everything but a warning).
    public var blocksPromotion: Bool { self != .warning }
}
