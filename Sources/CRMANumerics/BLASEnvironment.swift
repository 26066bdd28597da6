#if canImport(Glibc)
    import Glibc
#endif

/// Process-level threading settings of OpenBLAS and of oneDNN's OpenMP runtime (the bf16 GEMMs), which
/// only take effect through the environment at library load.
public enum BLASEnvironment {
    /// OpenBLAS's idle worker threads spin (yielding) for 2^28 cycles after each call before they sleep.
    /// On a 2-core machine that spinning steals the core our own kernels (attention, element-wise) run on
    /// between GEMMs: measured here, training attention took twice as long. 2^4 cycles makes idle
    /// workers sleep at once; waking them costs microseconds per large GEMM.
    public static let threadTimeoutVariable = "OPENBLAS_THREAD_TIMEOUT"
    public static let threadTimeoutValue = "4"
    /// OpenMP's idle threads spin after every parallel region the same way: with bf16 GEMMs (oneDNN) and
    /// OpenBLAS's LoRA GEMMs interleaved, the spinning took the LoRA and attention phases from 0.6 to 1.3 s
    /// per training step (bf16 1.15× fp32 instead of 1.60×). Passive: they sleep at once.
    public static let ompWaitPolicyVariable = "OMP_WAIT_POLICY"
    public static let ompWaitPolicyValue = "PASSIVE"

    /// OpenBLAS 0.3.21 (Debian 12) picks its kernels from the CPU at load, and on AVX-512 CPUs it does not
    /// know it falls back to the Prescott (SSE3) kernels: measured on this project's machine kind (a Xeon with
    /// AVX512-BF16 and AVX512-FP16), sgemm ran at 55 GFLOP/s instead of 120 on two threads, and fp32 scoring
    /// at 207 instead of 392 tokens/s. Naming the core in `OPENBLAS_CORETYPE` selects the right kernels.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"

    /// The OpenBLAS core whose kernels a CPU with these `/proc/cpuinfo` flags runs: Cooperlake's with
    /// AVX512-BF16, SkylakeX's with the AVX-512 subsets those kernels use; nil (OpenBLAS decides) otherwise.
    public static func coreType(cpuFlags: Set<String>) -> String? {
        let skylakeX: Set = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        guard skylakeX.isSubset(of: cpuFlags) else { return nil }
        return cpuFlags.contains("avx512_bf16") ? "COOPERLAKE" : "SKYLAKEX"
    }

    /// The flags of the first processor in `/proc/cpuinfo` (empty where it cannot be read).
    static func cpuFlags() -> Set<String> {
        guard let f = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, f) > 0, let l = line {
            let text = String(cString: l)
            if text.hasPrefix("flags") {
                let list = text.split(separator: ":", maxSplits: 1).last ?? ""
                return Set(list.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
            }
        }
        return []
    }

    /// Re-executes the current program with the short spin settings and, on an AVX-512 CPU, OpenBLAS's core
    /// (``coreType(cpuFlags:)``), unless the environment already sets them (then the operator's choice
    /// stands). Call first thing in `main`, before any other work.
    public static func ensureShortSpin() {
        var wanted = [(threadTimeoutVariable, threadTimeoutValue), (ompWaitPolicyVariable, ompWaitPolicyValue)]
        if let core = coreType(cpuFlags: cpuFlags()) { wanted.append((coreTypeVariable, core)) }
        let missing = wanted.filter { getenv($0.0) == nil }
        guard !missing.isEmpty else { return }
        for (variable, value) in missing { setenv(variable, value, 1) }
        let args = CommandLine.arguments
        var cArgs = args.map { strdup($0) }
        cArgs.append(nil)
        execv("/proc/self/exe", cArgs)
        // execv only returns on failure: carry on with the default spin.
    }
}
