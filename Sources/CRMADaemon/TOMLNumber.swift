/// TOML's number and date tokens (pure functions over the token text).
enum TOMLNumber {
    /// An integer or float, or nil when `token` is neither.
    static func parse(_ token: String) -> ConfigValue? {
        switch token {
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        var body = Substring(token)
        var sign = ""
        if let f = body.first, f == "+" || f == "-" {
            sign = String(f)
            body = body.dropFirst()
        }
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where body.hasPrefix(prefix) {
            // Radix prefixes take no sign.
            guard sign.isEmpty, let digits = separated(body.dropFirst(2)), let v = Int(digits, radix: radix)
            else { return nil }
            return .integer(v)
        }
        guard let first = body.first, first.isASCII, first.isNumber else { return nil }
        // No leading zeros in the integer part ("0" alone, or "0.5", "0e3").
        if first == "0", body.count > 1, let second = body.dropFirst().first, second != ".", second != "e",
            second != "E"
        {
            return nil
        }
        if body.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            guard let text = separated(body), validFloat(text), let v = Double(sign + text) else { return nil }
            return .float(v)
        }
        guard let digits = separated(body), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let v = Int(sign + digits)
        else { return nil }
        return .integer(v)
    }

    /// The text without `_` separators, or nil when one is not between two digits.
    static func separated(_ s: Substring) -> String? {
        let chars = Array(s)
        guard !chars.isEmpty else { return nil }
        for (i, c) in chars.enumerated() where c == "_" {
            guard i > 0, i < chars.count - 1, chars[i - 1].isHexDigit, chars[i + 1].isHexDigit else { return nil }
        }
        return String(chars.filter { $0 != "_" })
    }

    /// digits [. digits] [e|E [+|-] digits]: every part present is non-empty.
    static func validFloat(_ s: String) -> Bool {
        var rest = Substring(s)
        func digits() -> Bool {
            let n = rest.prefix { $0.isASCII && $0.isNumber }.count
            rest = rest.dropFirst(n)
            return n > 0
        }
        guard digits() else { return false }
        if rest.first == "." {
            rest = rest.dropFirst()
            guard digits() else { return false }
        }
        if let e = rest.first, e == "e" || e == "E" {
            rest = rest.dropFirst()
            if let s = rest.first, s == "+" || s == "-" { rest = rest.dropFirst() }
            guard digits() else { return false }
        }
        return rest.isEmpty
    }

    /// An offset or local date, time or date-time (RFC 3339 shapes), checked loosely: digits in place.
    static func looksLikeDate(_ token: String) -> Bool {
        let c = Array(token.utf8)
        func digit(_ i: Int) -> Bool { i < c.count && c[i] >= 0x30 && c[i] <= 0x39 }
        let isDate = c.count >= 10 && (0..<4).allSatisfy(digit) && c[4] == 0x2D && digit(5) && digit(6) && c[7] == 0x2D
            && digit(8) && digit(9)
        let isTime = c.count >= 8 && digit(0) && digit(1) && c[2] == 0x3A && digit(3) && digit(4) && c[5] == 0x3A
            && digit(6) && digit(7)
        return isDate || isTime
    }
}
