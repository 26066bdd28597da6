import ArgumentParser
import CRMAContinual
import CRMAControl
import CRMADaemon
import CRMAMonitor
import CRMAModel
import CRMANumerics
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// crmad: the continual-learning daemon (``Serve``, the default), and the worker a Slurm job runs (``Worker``).
@main
struct CRMAD: AsyncParsableCommand {
    static func main() async {
        BLASEnvironment.ensureShortSpin()
        await Self.main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "crmad",
        abstract: "The crma continual-learning daemon.",
        discussion: """
            crmad [serve] --config FILE runs the daemon (serve is the default; crmad help serve lists its \
            options). crmad worker DIR runs one update from a job directory: what a Slurm batch job of crmad \
            runs when cluster.engine = "slurm" (docs/cluster.md).
            """,
        subcommands: [Serve.self, Worker.self], defaultSubcommand: Serve.self)
}

/// The daemon. Watches the inbox, trains each domain's update, keeps or rolls it back by the forgetting
/// gate, and answers on the control socket.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "The crma continual-learning daemon.",
        discussion: """
            Drop .txt, .md or .jsonl files into <inbox>/<domain>/. crmad stores them, fine-tunes a LoRA for the \
            domain plus the shared CRMA substrate, re-scores every earlier domain and the general benchmark, and \
            rolls the update back when drift crosses monitor.critical_percent. Query it with crmactl; alerts go to \
            the journal (journalctl -u crmad -p warning).

            Exit codes: 0 after a clean stop, 78 for a configuration error, 1 for anything else.
            """)

    @Option(help: "Configuration file (TOML; every key is documented in config/crmad.toml).")
    var config = "/etc/crmad/crmad.toml"

    @Flag(help: "Validate the configuration, print the effective settings, and exit.")
    var checkConfig = false

    func run() async throws {
        let cfg: DaemonConfig
        let token: String?
        do {
            cfg = try ConfigLoader.load(file: config)
            try cfg.checkFiles(configFile: config)
            try cfg.checkCluster(configFile: config)
            token = try cfg.bearerToken(configFile: config)
        } catch let e as ConfigError {
            FileHandle.standardError.write(Data("crmad: configuration error: \(e)\n".utf8))
            throw ExitCode(78)
        }
        if checkConfig {
            print("\(config): OK")
            print("  state \(cfg.paths.stateDirectory), inbox \(cfg.paths.inbox), socket \(cfg.paths.socket)")
            print("  model \(cfg.model.path), base \((try? Precision.parse(cfg.model.base))?.reason ?? cfg.model.base)")
            print(
                "  strategy \(cfg.training.strategy.rawValue), "
                    + (cfg.training.epochs > 0 ? "\(cfg.training.epochs) epochs" : "\(cfg.training.steps) steps")
                    + " of \(cfg.training.batchRows) × \(cfg.training.sequenceLength) tokens")
            print(
                cfg.control.listen.isEmpty
                    ? "  inference API: on the control socket only"
                    : "  inference API, state reads and dashboard: also on TCP \(cfg.control.listen), read-only "
                        + "(token from \(cfg.control.tokenFile))")
            let cl = cfg.cluster
            print(
                cl.engine == .local
                    ? "  updates: on this host, one at a time (cluster.engine = local)"
                    : "  updates: Slurm batch jobs, \(cl.maxParallel) at once, job directories under \(cl.sharedDirectory)"
                        + (cl.partition.isEmpty ? "" : ", partition \(cl.partition)")
                        + (cl.sbatchArguments.isEmpty ? "" : ", sbatch \(cl.sbatchArguments.joined(separator: " "))")
                        + ", up to \(cl.maxRequeues) resubmissions")
            if cl.maxParallel > 1 && !cfg.training.strategy.rebasable {
                print(
                    "  note: strategy \(cfg.training.strategy.rawValue) trains parameters every update shares, so when one of "
                        + "\(cl.maxParallel) parallel updates is promoted the others are trained again (docs/cluster.md, Measured)")
            }
            let g = cfg.monitor.general
            print("  gate: warn \(cfg.monitor.warnPercent)%, critical \(cfg.monitor.criticalPercent)%, on breach \(cfg.monitor.onBreach.rawValue)")
            print(
                cfg.monitor.benchmarks.isEmpty
                    ? "  general benchmarks: none (updates are judged on domains only)"
                    : "  general benchmarks: \(cfg.monitor.benchmarks) (accuracy warn/critical \(g.limits.accuracyPoints.warn)/\(g.limits.accuracyPoints.critical) points, KL \(g.limits.kl.warn)/\(g.limits.kl.critical) nats)")
            return
        }
        LoggingSystem.bootstrap { JournalLogHandler(label: $0) }
        let metricsExposition = PrometheusBackend.bootstrap()
        var logger = Logger(label: "crmad")
        logger.logLevel = .info
        if cfg.resources.blasThreads > 0 { BLAS.setThreads(cfg.resources.blasThreads) }
        let lm: LanguageModel
        let precision: (precision: Precision, reason: String)
        do {
            precision = try Precision.parse(cfg.model.base)
            lm = try LanguageModel.load(path: cfg.model.path, precision: precision.precision)
        } catch {
            logger.critical("cannot load the model \(cfg.model.path): \(error)")
            throw ExitCode(1)
        }
        let log = logger
        logger.notice("model \(cfg.model.path) loaded; state in \(cfg.paths.stateDirectory), inbox \(cfg.paths.inbox)")
        logger.notice("base \(precision.reason)")
        let daemon = try Daemon(config: cfg, lm: lm, logger: logger)
        // Recovery (interrupted jobs, what is already in the inbox) before the socket reports ready.
        try daemon.recover()
        let server = ControlServer(
            api: daemon, settings: ControlServer.Settings(config: cfg), logger: logger,
            metricsExposition: metricsExposition)
        let app = try server.application {
            daemon.socketBound()
            log.notice("listening on \(cfg.paths.socket)")
        }
        var services: [any Service] = [app]
        if let token, let listen = TCPListen(cfg.control.listen) {
            services.append(try server.listenerApplication(listen: listen, token: token) {
                log.notice("inference API and read-only dashboard listening on \(cfg.control.listen) (token required)")
            })
        }
        // Shut down in reverse order: the watchdog says STOPPING=1, the job runner stops at its next step
        // boundary (checkpointing), the inbox stops watching and ends the event streams, the model-request
        // scheduler stops, then the servers close.
        let group = ServiceGroup(
            services: services + daemon.services + [WatchdogService()],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// sd_notify from a task independent of the training thread: WATCHDOG=1 at half systemd's interval, and
/// STOPPING=1 as soon as a shutdown signal arrives (it is the first service to stop).
struct WatchdogService: Service {
    func run() async throws {
        let notifier = ServiceNotifier()
        if let interval = notifier.watchdogInterval {
            while !Task.isShuttingDownGracefully {
                notifier.watchdog()
                // Returns at once when a shutdown signal arrives, so STOPPING=1 is not delayed.
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(interval / 2)) }
            }
        } else {
            try? await gracefulShutdown()
        }
        notifier.stopping()
    }
}
