import CRMAContinual
import CRMAMonitor
import CRMANumerics
import Foundation
import CRMAWire
import Testing
@testable import CRMADaemon

@Suite struct ConfigLoaderTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func decode(_ toml: String) throws -> DaemonConfig {
        try ConfigLoader.decode(try ConfigValue.parse(toml: toml, file: "t.toml"), file: "t.toml")
    }

    func error(_ toml: String) -> ConfigError? {
        do {
            _ = try decode(toml)
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            return ConfigError(file: "?", key: "?", reason: "\(error)")
        }
    }

    @Test func documentedFileStatesTheDefaults() throws {
        // config/crmad.toml documents every key with its default value: reading it must give DaemonConfig().
        let c = try ConfigLoader.load(file: Self.repo.appendingPathComponent("config/crmad.toml").path)
        #expect(c == DaemonConfig())
    }

    /// A configured benchmark directory that does not exist stops crmad with a configuration error
    /// (before, the daemon silently judged updates without the general benchmarks).
    @Test func aMissingBenchmarkDirectoryIsAConfigurationError() throws {
        var c = DaemonConfig()
        c.monitor.benchmarks = "/nonexistent/benchmarks"
        #expect(throws: ConfigError.self) { try c.checkFiles(configFile: "crmad.toml") }
        let e = try #require(throws: ConfigError.self) { try c.checkFiles(configFile: "crmad.toml") }
        #expect(e.key == "monitor.benchmarks" && e.reason.contains("make benchmarks"))
        c.monitor.benchmarks = ""
        try c.checkFiles(configFile: "crmad.toml")
    }

    /// The inference API's TCP listener: host:port, only with a token file that holds a real token and
    /// that other users cannot read.
    @Test func theTCPListenerNeedsAnAddressAndAPrivateTokenFile() throws {
        #expect(TCPListen("127.0.0.1:8080") == TCPListen("127.0.0.1:8080") && TCPListen("[::1]:80")?.host == "::1")
        #expect(TCPListen("8080") == nil && TCPListen("host:0") == nil && TCPListen(":80") == nil)
        #expect(error("[control]\nlisten = \"localhost\"\ntoken_file = \"/t\"\n")?.key == "control.listen")
        #expect(error("[control]\nlisten = \"127.0.0.1:8080\"\n")?.key == "control.token_file")
        let dir = NSTemporaryDirectory() + "token-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try decode("[control]\nlisten = \"127.0.0.1:8080\"\ntoken_file = \"\(dir)/token\"\n")
        #expect(throws: ConfigError.self) { try c.bearerToken(configFile: "t.toml") }  // missing
        try "0123456789abcdef0123\n".write(toFile: "\(dir)/token", atomically: true, encoding: .utf8)
        chmod("\(dir)/token", 0o644)
        let open = try #require(throws: ConfigError.self) { try c.bearerToken(configFile: "t.toml") }
        #expect(open.reason.contains("chmod 600"))
        chmod("\(dir)/token", 0o600)
        #expect(try c.bearerToken(configFile: "t.toml") == "0123456789abcdef0123")
        try "short\n".write(toFile: "\(dir)/token", atomically: true, encoding: .utf8)
        chmod("\(dir)/token", 0o600)
        #expect(throws: ConfigError.self) { try c.bearerToken(configFile: "t.toml") }
        c.control.listen = ""
        #expect(try c.bearerToken(configFile: "t.toml") == nil)
        let q = try decode("[control]\nmax_queued_requests = 4\nrequest_deadline_seconds = 20.0\nmax_completion_tokens = 64\n")
        #expect(q.control.maxQueuedRequests == 4 && q.control.requestDeadlineSeconds == 20 && q.control.maxCompletionTokens == 64)
    }

    @Test func theGeneralGateKeysAreReadAndChecked() throws {
        let c = try decode("[monitor]\nmultiple_choice_items = 20\naccuracy_warn_points = 2.0\nkl_critical = 0.3\n")
        #expect(
            c.monitor.general.multipleChoiceItems == 20 && c.monitor.general.limits.accuracyPoints.warn == 2
                && c.monitor.general.limits.kl.critical == 0.3)
        #expect(throws: ConfigError.self) { try decode("[monitor]\nkl_warn = 0.9\nkl_critical = 0.3\n") }
        #expect(throws: ConfigError.self) { try decode("[training]\nstrategy = \"sgd\"\n") }
        let r = try decode("[training]\nstrategy = \"replay\"\nreplay_ratio = 0.5\n")
        #expect(r.training.strategy == .replay && r.training.replayRatio == 0.5)
        let e = try decode("[training]\nstrategy = \"ewc\"\newc_lambda = 10.0\newc_gamma = 0.9\n")
        #expect(e.training.strategy == .ewc && e.training.ewcLambda == 10 && e.training.ewcGamma == 0.9)
        #expect(e.continualConfig(strategy: .ewc).ewcOnlineGamma == 0.9)
    }

    /// Updates train for 2 epochs by default; a file that sets steps and not epochs trains for those steps.
    @Test func epochsAreTheDefaultAndAFileSettingOnlyStepsGetsSteps() throws {
        #expect(try decode("").training.epochs == 2)
        let steps = try decode("[training]\nsteps = 30\n").training
        #expect(steps.steps == 30 && steps.epochs == 0)
        let both = try decode("[training]\nsteps = 30\nepochs = 1.5\n").training
        #expect(both.steps == 30 && both.epochs == 1.5)
        #expect(try decode("[training]\nepochs = 0.0\n").training.epochs == 0)
    }

    @Test func theBaseIsAutoQuantizedBF16OrFP32() throws {
        #expect(try decode("").model.base == "auto")
        #expect(try decode("[model]\nbase = \"quantized\"\n").model.base == "quantized")
        #expect(try decode("[model]\nbase = \"fp32\"\n").model.base == "fp32")
        let e = try #require(error("[model]\nbase = \"fp16\"\n"))
        #expect(e.key.hasSuffix("base"))
        // bf16 is accepted exactly where the CPU can run it.
        #expect((error("[model]\nbase = \"bf16\"\n") == nil) == BF16.available)
    }

    /// Files written before `base` say `precision`; both at once is a mistake worth naming.
    @Test func precisionIsTheOlderNameOfBase() throws {
        #expect(try decode("[model]\nprecision = \"fp32\"\n").model.base == "fp32")
        #expect(try decode("[model]\nprecision = \"quantized\"\n").model.base == "quantized")
        let e = try #require(error("[model]\nprecision = \"fp16\"\n"))
        #expect(e.key.hasSuffix("precision"))
        let both = try #require(error("[model]\nbase = \"fp32\"\nprecision = \"fp32\"\n"))
        #expect(both.key.hasSuffix("precision") && "\(both)".contains("older name"))
    }

    @Test func devFileKeepsEverythingUnderVar() throws {
        let c = try ConfigLoader.load(file: Self.repo.appendingPathComponent("config/crmad.dev.toml").path)
        #expect(c.paths.stateDirectory.hasPrefix("var/"))
        #expect(c.paths.inbox.hasPrefix("var/"))
        #expect(c.paths.socket.hasPrefix("var/"))
        #expect(c.training.steps == 30)
    }

    @Test func emptyFileIsAllDefaults() throws {
        #expect(try decode("") == DaemonConfig())
    }

    @Test func readsEverySection() throws {
        let c = try decode(
            """
            [training]
            strategy = "frozen"
            steps = 7
            epochs = 1.5
            [monitor]
            warn_percent = 2
            critical_percent = 3.5
            on_breach = "retry-frozen"
            [control]
            socket_mode = 0o600
            allowed_uids = [1000, 1001]
            """)
        #expect(c.training.strategy == .frozen)
        #expect(c.training.steps == 7)
        #expect(c.training.epochs == 1.5)
        #expect(c.monitor.warnPercent == 2 && c.monitor.criticalPercent == 3.5)
        #expect(c.monitor.onBreach == .retryFrozen)
        #expect(c.control.socketMode == 0o600)
        #expect(c.control.allowedUIDs == [1000, 1001])
    }

    @Test func unknownKeysAreRefusedWithTheirPath() {
        let e = error("[training]\nstepz = 3\n")
        #expect(e?.key == "training.stepz")
        #expect(e?.reason.contains("unknown key") == true)
        #expect(error("[trainig]\n")?.key == "trainig")
    }

    @Test func wrongTypesNameTheKeyAndTheType() {
        let e = error("[training]\nsteps = \"ten\"\n")
        #expect(e?.key == "training.steps")
        #expect(e?.reason.contains("must be an integer, found a string") == true)
        #expect(error("training = 3\n")?.reason.contains("must be a table") == true)
        #expect(error("[adapter]\nlora_targets = [\"q\", 3]\n")?.key == "adapter.lora_targets")
    }

    @Test func rangesAreChecked() {
        #expect(error("[training]\nsteps = 0\n")?.reason.contains("out of range") == true)
        #expect(error("[ingest]\nholdout_fraction = 0.9\n")?.key == "ingest.holdout_fraction")
        #expect(error("[monitor]\nwarn_percent = 20\ncritical_percent = 10\n")?.key == "monitor.critical_percent")
        #expect(error("[control]\nsocket_mode = 0o666\n")?.reason.contains("every user") == true)
        #expect(error("[training]\nstrategy = \"magic\"\n")?.reason.contains("not one of") == true)
        #expect(error("[adapter]\nlora_targets = [\"qq\"]\n")?.reason.contains("unknown projection") == true)
        let long = String(repeating: "s", count: 120)
        #expect(error("[paths]\nsocket = \"/\(long)\"\n")?.key == "paths.socket")
    }

    @Test func readsTheLwfAndOLoRASettings() throws {
        let c = try decode(
            "[training]\nstrategy = \"lwf\"\nlwf_alpha = 0.25\nlwf_temperature = 3\nlwf_teacher = \"cached\"\nolora_lambda = 2\n")
        #expect(c.training.strategy == .lwf && c.training.lwfAlpha == 0.25 && c.training.lwfTemperature == 3)
        #expect(c.training.lwfTeacher == .cached && c.training.oloraLambda == 2)
        #expect(try decode("[training]\nstrategy = \"olora\"\n").training.strategy == .olora)
        #expect(error("[training]\nlwf_alpha = 1.5\n")?.key == "training.lwf_alpha")
        #expect(error("[training]\nlwf_temperature = 0\n")?.key == "training.lwf_temperature")
        #expect(error("[training]\nlwf_teacher = \"disk\"\n")?.reason.contains("not one of") == true)
        #expect(error("[training]\nolora_lambda = -1\n")?.key == "training.olora_lambda")
    }

    @Test func syntaxErrorsNameTheLine() {
        let e = error("[training]\nsteps = = 3\n")
        #expect(e?.key == "")
        #expect(e?.reason.contains("line 2") == true)
    }

    @Test func malformedHeadersAreSyntaxErrorsWithTheirLine() {
        // Found by `crma-fuzz toml` in the C++ TOML library crmad used before (toml++ 3.x asserted on these).
        #expect(error("[=training]\n")?.reason.contains("line 1") == true)
        #expect(error("[paths]\nstate_dir = \"x\"\n[\ntraining]\n")?.reason.contains("line 3") == true)
        #expect(error("[ #x]\n") != nil)
        #expect(error("[\r\ntraining]\n") != nil)
        #expect(error("x = [\"q\", }o\"]\n")?.reason.contains("line 1") == true)
    }

    @Test func missingFileSaysSo() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(file: "/nonexistent/crmad.toml") }
    }
}
