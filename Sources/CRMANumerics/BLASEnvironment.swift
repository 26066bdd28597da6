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

    /// Re-executes the current program with both settings, unless the environment already sets them
    /// (then the operator's choice stands). Call first thing in `main`, before any other work.
    public static func ensureShortSpin() {
        let missing = [(threadTimeoutVariable, threadTimeoutValue), (ompWaitPolicyVariable, ompWaitPolicyValue)]
            .filter { getenv($0.0) == nil }
        guard !missing.isEmpty else { return }
        for (variable, value) in missing { setenv(variable, value, 1) }
        let args = CommandLine.arguments
        var cArgs = args.map { strdup($0) }
        cArgs.append(nil)
        execv("/proc/self/exe", cArgs)
        // execv only returns on failure: carry on with the default spin.
    }
}
