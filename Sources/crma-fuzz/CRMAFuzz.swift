import ArgumentParser
import CRMAFuzzTargets
import CRMAModel
import Foundation

/// A seeded mutation fuzzer for the parsers that read untrusted bytes. Each execution takes a seed
/// input from `fuzz/corpus/<target>/`, applies 1–8 random mutations, writes it to a file in /dev/shm
/// (kept there, so a crash leaves its input behind) and parses it. Errors are the expected outcome;
/// a trap or a hang is a bug. Deterministic for a given --seed.
@main
struct CRMAFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crma-fuzz",
        abstract: "Fuzz a parser with seeded mutations of its corpus (a crash leaves the input in /dev/shm).",
        discussion: "Targets: gguf, safetensors, tokenizer-json, jsonl, toml. Example: crma-fuzz gguf --executions 1000000")

    @Argument(help: "gguf, safetensors, tokenizer-json, jsonl or toml.")
    var target: String

    @Option(help: "Executions.")
    var executions = 100_000

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(help: "Corpus root (one folder per target).")
    var corpus = "fuzz/corpus"

    func run() throws {
        let dir = "\(corpus)/\(target)"
        var seeds = try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map {
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\($0)")))
        }
        if target == "safetensors" { seeds.append(Self.safetensorsSeed()) }
        guard !seeds.isEmpty else { throw ValidationError("no seed inputs in \(dir)") }
        let ext = FuzzTargets.fileExtensions[target]
        guard let ext else { throw ValidationError("unknown target \(target)") }
        let path = "/dev/shm/crma-fuzz-\(target)-\(getpid()).\(ext)"
        var rng = SplitMix(seed)
        var accepted = 0, rejected = 0
        var slowest = 0.0
        let start = Date()
        for i in 0..<executions {
            var input = seeds[Int(rng.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + Int(rng.next() % 8)) { Self.mutate(&input, &rng) }
            guard FileManager.default.createFile(atPath: path, contents: Data(input)) else {
                throw ValidationError("cannot write the fuzz input to \(path)")
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            if FuzzTargets.parse(target, path: path, bytes: input) { accepted += 1 } else { rejected += 1 }
            slowest = max(slowest, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            if (i + 1) % 100_000 == 0 {
                FileHandle.standardError.write(Data("\(target): \(i + 1) executions, \(String(format: "%.0f", Date().timeIntervalSince(start))) s\n".utf8))
            }
        }
        unlink(path)
        print(
            "\(target): \(executions) executions in \(String(format: "%.0f", Date().timeIntervalSince(start))) s, "
                + "\(accepted) parsed, \(rejected) refused with an error, no crash; slowest \(String(format: "%.1f", slowest * 1000)) ms")
        if slowest > 1 { throw ValidationError("an input took \(slowest) s: a hang candidate") }
    }

    /// A small valid safetensors file (two tensors and metadata), the seed for that target.
    static func safetensorsSeed() -> [UInt8] {
        var w = SafetensorsWriter(metadata: ["format": "pt"])
        w.add("a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        w.add("b.bias", shape: [4], values: [0.5, -1, 2, 0])
        return [UInt8]((try? w.data()) ?? Data())
    }

    static let interesting: [[UInt8]] = [
        [0], [0xFF], [0x7F], [0x80], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0x80], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        Array("\"".utf8), Array("{".utf8), Array("[".utf8), Array("\\u".utf8), Array("\n".utf8), Array("=".utf8),
        Array("1e999".utf8), Array("-1".utf8), Array("99999999999999999999".utf8), Array("[[[[[[[[".utf8),
    ]

    static func mutate(_ b: inout [UInt8], _ rng: inout SplitMix) {
        let n = b.count
        switch rng.next() % 7 {
        case 0 where n > 0:  // flip a bit
            let i = Int(rng.next() % UInt64(n))
            b[i] ^= UInt8(1 << (rng.next() % 8))
        case 1 where n > 0:  // random byte
            b[Int(rng.next() % UInt64(n))] = UInt8(truncatingIfNeeded: rng.next())
        case 2:  // insert an interesting value
            let v = interesting[Int(rng.next() % UInt64(interesting.count))]
            b.insert(contentsOf: v, at: n == 0 ? 0 : Int(rng.next() % UInt64(n + 1)))
        case 3 where n > 1:  // delete a run
            let i = Int(rng.next() % UInt64(n))
            b.removeSubrange(i..<min(n, i + 1 + Int(rng.next() % 16)))
        case 4 where n > 0:  // truncate
            b.removeSubrange(Int(rng.next() % UInt64(n))...)
        case 5 where n > 1:  // duplicate a run
            let i = Int(rng.next() % UInt64(n))
            let run = b[i..<min(n, i + 1 + Int(rng.next() % 64))]
            b.insert(contentsOf: run, at: Int(rng.next() % UInt64(n)))
        case 6 where n >= 8:  // overwrite 8 bytes with an interesting integer (lengths, counts, offsets)
            let i = Int(rng.next() % UInt64(n - 7))
            let v = interesting[Int(rng.next() % 7)]
            for (k, x) in v.prefix(8).enumerated() { b[i + k] = x }
        default:
            b.append(UInt8(truncatingIfNeeded: rng.next()))
        }
    }
}

/// SplitMix64: small, fast, deterministic.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
