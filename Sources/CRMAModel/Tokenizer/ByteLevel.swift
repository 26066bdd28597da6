/// GPT-2's reversible map between bytes and printable Unicode scalars: printable Latin-1 bytes stand
/// for themselves, every other byte for a scalar from U+0100 upward, so BPE never sees control bytes.
public enum ByteLevel {
    /// `scalarForByte[b]` is the scalar that stands for byte `b`.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse map, scalar value → byte.
    public static let byteForScalar: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { m[s.value] = UInt8(b) }
        return m
    }()

    /// The byte-level string of `piece`'s UTF-8 bytes.
    public static func encode(_ piece: Substring) -> String {
        var out = String.UnicodeScalarView()
        for b in piece.utf8 { out.append(scalarForByte[Int(b)]) }
        return String(out)
    }

    /// Appends the bytes that the byte-level `token` stands for; scalars outside the map are appended
    /// as their own UTF-8.
    public static func decode(_ token: String, into bytes: inout [UInt8]) {
        for s in token.unicodeScalars {
            if let b = byteForScalar[s.value] {
                bytes.append(b)
            } else {
                bytes.append(contentsOf: Array(String(s).utf8))
            }
        }
    }
}
