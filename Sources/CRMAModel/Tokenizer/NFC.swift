import Foundation

/// Unicode normalization form C, as tokenizers that ask for it (Qwen's `"normalizer": {"type": "NFC"}`) apply.
enum NFC {
    /// `text` in normalization form C. Foundation's `precomposedStringWithCanonicalMapping` on Linux leaves
    /// a precomposed Hangul LV syllable and a following trailing consonant apart (가 + ᆨ stays two scalars);
    /// the standard's algorithmic Hangul composition joins them (각), and so does Hugging Face's tokenizers,
    /// so that last step is done here. ASCII text, already in NFC, is returned as it is.
    static func normalize(_ text: Substring) -> Substring {
        guard text.utf8.contains(where: { $0 >= 0x80 }) else { return text }
        let composed = text.precomposedStringWithCanonicalMapping
        let scalars = composed.unicodeScalars
        guard scalars.contains(where: { trailingConsonants.contains($0.value) }) else { return composed[...] }
        var out = String.UnicodeScalarView()
        for scalar in scalars {
            if trailingConsonants.contains(scalar.value), let last = out.last, isLVSyllable(last.value),
                let joined = Unicode.Scalar(last.value + scalar.value - trailingBase)
            {
                out.removeLast()
                out.append(joined)
            } else {
                out.append(scalar)
            }
        }
        return String(out)[...]
    }

    /// Hangul trailing consonants (jongseong) that compose: U+11A8…U+11C2.
    static let trailingConsonants: ClosedRange<UInt32> = 0x11A8...0x11C2
    static let trailingBase: UInt32 = 0x11A7

    /// A precomposed syllable of a leading consonant and a vowel only (no trailing consonant yet).
    static func isLVSyllable(_ v: UInt32) -> Bool { (0xAC00...0xD7A3).contains(v) && (v - 0xAC00) % 28 == 0 }
}
