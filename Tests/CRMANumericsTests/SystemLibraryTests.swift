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
