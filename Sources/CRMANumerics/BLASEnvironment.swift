#if canImport(Glibc)
    import Glibc
#endif

/// Process-level OpenBLAS settings that only take effect through the environment at library load.
public enum BLASEnvironment {
    /// OpenBLAS's idle worker threads spin (yielding) for 2^28 cycles after each call before they sleep.
    /// On a 2-core machine that spinning steals the core our own kernels (attention, element-wise) run on
    /// between GEMMs: measured here, training attention took twice as long. 2^4 cycles makes idle
    /// workers sleep at once; waking them costs microseconds per large GEMM.
    public static let threadTimeoutVariable = "OPENBLAS_THREAD_TIMEOUT"
    public static let threadTimeoutValue = "4"

    /// Re-executes the current program with the short spin set, unless the environment already sets it
    /// (then the operator's choice stands). Call first thing in `main`, before any other work.
    public static func ensureShortSpin() {
        guard getenv(threadTimeoutVariable) == nil else { return }
        setenv(threadTimeoutVariable, threadTimeoutValue, 1)
        let args = CommandLine.arguments
        var cArgs = args.map { strdup($0) }
        cArgs.append(nil)
        execv("/proc/self/exe", cArgs)
        // execv only returns on failure: carry on with the default spin.
    }
}
