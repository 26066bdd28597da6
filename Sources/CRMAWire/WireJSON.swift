import Foundation

/// The JSON coding of everything crmad stores and sends: keys sorted, and non-finite numbers (a NaN loss,
/// the gate's `non_finite` reasons) written as the strings "NaN", "Infinity" and "-Infinity" — Foundation's
/// default refuses to encode them, which turned an update with a NaN loss into a failed job instead of a
/// rolled-back version.
public enum WireJSON {
    static let nonFinite = (positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")

    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity,
            nan: nonFinite.nan)
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity,
            nan: nonFinite.nan)
        return d
    }
}
