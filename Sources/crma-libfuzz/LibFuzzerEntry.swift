import CRMAFuzzTargets
import Foundation

// libFuzzer's entry point: the target comes from CRMA_FUZZ_TARGET (gguf, safetensors, tokenizer-json,
// jsonl, toml). Built only with `make libfuzz` (CRMA_LIBFUZZER=1, -sanitize=fuzzer), which links
// libFuzzer's main; see docs/reliability.md.

nonisolated(unsafe) private var target = ProcessInfo.processInfo.environment["CRMA_FUZZ_TARGET"] ?? ""
nonisolated(unsafe) private var path: String?

@_cdecl("LLVMFuzzerTestOneInput")
public func crmaFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let ext = FuzzTargets.fileExtensions[target] else {
        fatalError("set CRMA_FUZZ_TARGET to one of \(FuzzTargets.fileExtensions.keys.sorted())")
    }
    let file = path ?? "/dev/shm/crma-libfuzz-\(target)-\(getpid()).\(ext)"
    path = file
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else { fatalError("cannot write \(file)") }
    _ = FuzzTargets.parse(target, path: file, bytes: bytes)
    return 0
}

// SwiftPM links an executable's `main` to `<module>_main`; hand control to libFuzzer's driver from there.
@_silgen_name("LLVMFuzzerRunDriver")
func runLibFuzzer(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ test: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("crma_libfuzz_main")
func crmaLibFuzzMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var count = argc
    var vector = argv
    return runLibFuzzer(&count, &vector) { crmaFuzzOneInput($0, $1) }
}
