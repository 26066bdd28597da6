import CRMAModel
import Foundation
import Logging
@testable import CRMADaemon

extension TempDirectory {
    /// A daemon on the tiny model with its state, inbox and socket in this directory and no general
    /// benchmarks; not started (tests drive its registry and parts by hand).
    func idleDaemon(_ lm: LanguageModel) throws -> Daemon {
        var c = DaemonConfig()
        c.paths.stateDirectory = "\(path)/state"
        c.paths.inbox = "\(path)/inbox"
        c.paths.socket = "\(path)/crmad.sock"
        c.model.path = "tiny"
        c.monitor.benchmarks = ""
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try Daemon(config: c, lm: lm, logger: logger)
    }
}
