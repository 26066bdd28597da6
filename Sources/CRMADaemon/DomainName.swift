/// Domain names come from inbox directory names, so they are checked before anything else touches them:
/// `^[a-z0-9][a-z0-9_-]{0,63}$` (no dots, slashes, upper case or spaces).
public enum DomainName {
    public static func validate(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { return "the domain name is empty" }
        guard bytes.count <= 64 else {
            return "the domain name is \(bytes.count) bytes long; use at most 64 of a-z, 0-9, '_' and '-'"
        }
        func lowerOrDigit(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard lowerOrDigit(bytes[0]) else {
            return "the domain name must start with a-z or 0-9 (rename the directory, e.g. to \"\(suggestion(name))\")"
        }
        for b in bytes.dropFirst() where !(lowerOrDigit(b) || b == 0x5F || b == 0x2D) {
            return "the domain name may only contain a-z, 0-9, '_' and '-' (rename the directory, e.g. to \"\(suggestion(name))\")"
        }
        return nil
    }

    public static func isValid(_ name: String) -> Bool { validate(name) == nil }

    /// A valid name close to `name`, for error messages.
    static func suggestion(_ name: String) -> String {
        var out = ""
        for ch in name.lowercased().unicodeScalars {
            if (ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9") || ch == "_" || ch == "-" {
                out.unicodeScalars.append(ch)
            } else if !out.isEmpty, out.last != "-" {
                out += "-"
            }
        }
        while out.hasPrefix("-") || out.hasPrefix("_") { out.removeFirst() }
        let trimmed = String(out.prefix(64))
        return trimmed.isEmpty ? "domain" : trimmed
    }
}
