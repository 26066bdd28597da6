import CSystemd
import Foundation
import Testing
@testable import CRMANumerics

/// The C shims link and behave as their documentation says.
@Suite struct SystemLibraryTests {
    @Test func openBLASReportsItsKernelAndThreads() {
        // Only reads: the thread count is process-wide and other tests run concurrently.
        #expect(!BLAS.coreName.isEmpty)
        #expect(BLAS.threads >= 1)
    }

    /// Without NOTIFY_SOCKET, sd_notify reports "not running under a service manager" (0).
    @Test func sdNotifyWithoutAServiceManagerIsANoOp() {
        unsetenv("NOTIFY_SOCKET")
        #expect(sd_notify(0, "READY=1") == 0)
    }
}

/// OpenBLAS's core is named for AVX-512 CPUs it may not recognise (it would fall back to Prescott's kernels).
@Suite struct BLASCoreTypeTests {
    static let skylakeX: Set = ["sse2", "avx2", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    @Test func theNewestKernelSetTheFlagsSupport() {
        #expect(BLASEnvironment.coreType(cpuFlags: Self.skylakeX.union(["avx512_bf16", "avx512_fp16"])) == "COOPERLAKE")
        #expect(BLASEnvironment.coreType(cpuFlags: Self.skylakeX) == "SKYLAKEX")
        #expect(BLASEnvironment.coreType(cpuFlags: Self.skylakeX.subtracting(["avx512vl"])) == nil)
        #expect(BLASEnvironment.coreType(cpuFlags: ["sse2", "avx2", "fma"]) == nil)
        #expect(BLASEnvironment.coreType(cpuFlags: []) == nil)
    }

    @Test func thisMachinesFlagsAreRead() {
        #expect(BLASEnvironment.cpuFlags().contains("sse2"))
    }
}
