import CRMAWire
import Testing
@testable import CRMADaemon

/// The TOML reader on the language's constructs (examples in the shape of the TOML 1.0 specification's)
/// and on malformed input, which must be a syntax error with its line, never a crash.
@Suite struct TOMLReaderTests {
    func parse(_ s: String) throws -> [String: ConfigValue] { try TOMLReader.parse(s) }

    func failure(_ s: String) -> TOMLReader.SyntaxError? {
        do {
            _ = try TOMLReader.parse(s)
            return nil
        } catch { return error }
    }

    @Test func keysTablesAndArraysOfTables() throws {
        let doc = try parse(
            """
            # a comment
            title = "crmad"   # trailing comment
            "quoted key" = 1
            'literal key' = 2
            site."google.com" = true
            a.b.c = 3

            [server]
            port = 8080
            [server.limits]
            body = 65_536

            [[domain]]
            name = "medical"
            [[domain]]
            name = "legal"
            [domain.extra]
            x = 1
            """)
        #expect(doc["title"] == .string("crmad"))
        #expect(doc["quoted key"] == .integer(1) && doc["literal key"] == .integer(2))
        #expect(doc["site"] == .table(["google.com": .bool(true)]))
        #expect(doc["a"] == .table(["b": .table(["c": .integer(3)])]))
        #expect(doc["server"] == .table(["port": .integer(8080), "limits": .table(["body": .integer(65536)])]))
        #expect(
            doc["domain"]
                == .array([
                    .table(["name": .string("medical")]),
                    .table(["name": .string("legal"), "extra": .table(["x": .integer(1)])]),
                ]))
    }

    @Test func stringsWithEveryForm() throws {
        let doc = try parse(
            #"""
            basic = "tab\there \"q\" \\ \u00E9 \U0001F600"
            literal = 'C:\path\no escapes'
            multi = """
            one
            two"""
            trimmed = """\
                   joined \
                   here"""
            quotes = """a""\""""
            raw = '''
            keep \n as is'''
            """#)
        #expect(doc["basic"] == .string("tab\there \"q\" \\ é 😀"))
        #expect(doc["literal"] == .string(#"C:\path\no escapes"#))
        #expect(doc["multi"] == .string("one\ntwo"))
        #expect(doc["trimmed"] == .string("joined here"))
        #expect(doc["quotes"] == .string("a\"\"\""))
        #expect(doc["raw"] == .string(#"keep \n as is"#))
    }

    @Test func numbersBooleansArraysInlineTablesAndDates() throws {
        let doc = try parse(
            """
            ints = [+99, 42, 0, -17, 1_000, 0xDEAD_beef, 0o755, 0b1101]
            floats = [1.0, 3.1415, -0.01, 5e+22, 1e06, -2E-2, 6.626e-34, 224_617.445_991]
            special = [inf, -inf]
            flags = [true, false]
            nested = [ [1, 2], ["a"], ]   # trailing comma
            multiline = [
              1, # one
              2,
            ]
            point = { x = 1, y.z = "deep" }
            when = 1979-05-27T07:32:00Z
            day = 1979-05-27
            spaced = 1979-05-27 07:32:00
            """)
        #expect(
            doc["ints"]
                == .array(
                    [99, 42, 0, -17, 1000, 0xDEAD_BEEF, 0o755, 0b1101].map { .integer($0) }))
        #expect(
            doc["floats"]
                == .array([1.0, 3.1415, -0.01, 5e22, 1e6, -2e-2, 6.626e-34, 224_617.445_991].map { .float($0) }))
        #expect(doc["special"] == .array([.float(.infinity), .float(-.infinity)]))
        #expect(doc["flags"] == .array([.bool(true), .bool(false)]))
        #expect(doc["nested"] == .array([.array([.integer(1), .integer(2)]), .array([.string("a")])]))
        #expect(doc["multiline"] == .array([.integer(1), .integer(2)]))
        #expect(doc["point"] == .table(["x": .integer(1), "y": .table(["z": .string("deep")])]))
        #expect(doc["when"] == .other("a date or time") && doc["day"] == .other("a date or time"))
        #expect(doc["spaced"] == .other("a date or time"))
        if case .float(let v)? = try parse("n = nan")["n"] { #expect(v.isNaN) } else { Issue.record("nan") }
    }

    @Test func malformedInputIsAnErrorOnItsLine() {
        let cases: [(String, Int)] = [
            ("a = ", 1), ("a = 1\nb", 2), ("a = 1\na = 2", 2), ("[t]\n[t]", 2), ("a = \"open", 1),
            ("a = \"\"\"never closed", 1), ("a = 'x\n'", 1), ("a = [1, 2", 1), ("a = [1 2]", 1),
            ("a = {x = 1,\n y = 2}", 1), ("a = 1 b = 2", 1), ("a = 01", 1), ("a = 1__0", 1), ("a = _1", 1),
            ("a = 1.", 1), ("a = .5", 1), ("a = +0x10", 1), ("a = 99999999999999999999", 1), ("a = tru", 1),
            ("a = bare", 1), ("a = \"\\q\"", 1), ("a = \"\\uD800\"", 1), ("a = \"ctl\u{7}\"", 1), ("[a\n", 1),
            ("[[a]\n", 1), ("a = 1\n[a]", 2), ("a.b = 1\na.b.c = 2", 2), ("x = [\"q\", }o\"]", 1), ("[=x]", 1),
            ("= 1", 1), ("a = {", 1), ("a = [[[[", 1),
        ]
        for (text, line) in cases {
            let e = failure(text)
            #expect(e?.line == line, "\(text.debugDescription): \(String(describing: e))")
        }
    }

    @Test func deepNestingIsRefusedNotAStackOverflow() {
        let deep = "a = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(failure(deep)?.reason.contains("nested more than") == true)
        let inline = "a = " + String(repeating: "{b = ", count: 10_000) + "1" + String(repeating: "}", count: 10_000)
        #expect(failure(inline)?.reason.contains("nested more than") == true)
        let fine = "a = " + String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(failure(fine) == nil)
    }

    @Test func crlfLineEndsAndAByteOrderMark() throws {
        let doc = try parse("\u{FEFF}a = 1\r\n[t]\r\nb = \"x\"\r\n")
        #expect(doc["a"] == .integer(1) && doc["t"] == .table(["b": .string("x")]))
    }
}
