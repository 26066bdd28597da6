import Foundation
import Testing
@testable import CRMADaemon

/// `[cluster]`: the names the issue fixed, the combinations that cannot work refused with what to do, and
/// what the slurm engine needs on crmad's host checked before it starts.
@Suite struct ClusterConfigTests {
    func decode(_ toml: String) throws -> DaemonConfig {
        try ConfigLoader.decode(try ConfigValue.parse(toml: toml, file: "t.toml"), file: "t.toml")
    }

    func error(_ toml: String) -> ConfigError? {
        do {
            _ = try decode(toml)
            return nil
        } catch {
            return error as? ConfigError
        }
    }

    @Test func everyKeyIsRead() throws {
        let c = try decode(
            """
            [cluster]
            engine = "slurm"
            shared_dir = "/shared/crmad"
            partition = "cpu"
            max_parallel = 4
            sbatch_args = ["--cpus-per-task=2", "--mem=8G", "--time=02:00:00"]
            max_requeues = 5
            """)
        #expect(c.cluster.engine == .slurm && c.cluster.sharedDirectory == "/shared/crmad" && c.cluster.partition == "cpu")
        #expect(c.cluster.maxParallel == 4 && c.cluster.maxRequeues == 5)
        #expect(c.cluster.sbatchArguments == ["--cpus-per-task=2", "--mem=8G", "--time=02:00:00"])
        #expect(try decode("[cluster]\nshared_dir = \"\"\npartition = \"\"\n").cluster == DaemonConfig.Cluster())
    }

    @Test func combinationsThatCannotWorkAreRefused() {
        #expect(error("[cluster]\nengine = \"slurm\"\n")?.key == "cluster.shared_dir")
        #expect(error("[cluster]\nengine = \"slurm\"\nshared_dir = \"shared\"\n")?.reason.contains("absolute") == true)
        #expect(error("[cluster]\nmax_parallel = 2\n")?.reason.contains("engine = \"slurm\"") == true)
        #expect(error("[cluster]\nengine = \"kubernetes\"\n")?.key == "cluster.engine")
        #expect(error("[cluster]\nmax_parallel = 0\n")?.key == "cluster.max_parallel")
        #expect(error("[cluster]\nmaxparallel = 2\n")?.reason.contains("unknown key") == true)
        let output = error("[cluster]\nsbatch_args = [\"--output=/tmp/x\"]\n")
        #expect(output?.key == "cluster.sbatch_args" && output?.reason.contains("set by crmad") == true)
        #expect(error("[cluster]\nsbatch_args = [\"-p\", \"gpu\"]\n")?.reason.contains("set partition instead") == true)
        #expect(error("[cluster]\nsbatch_args = [\"--mem\", \"8G\"]\n")?.reason.contains("not an option") == true)
    }

    @Test func theSlurmEngineNeedsItsDirectoryCommandsAndModelOnThisHost() throws {
        let dir = NSTemporaryDirectory() + "cluster-\(UUID().uuidString)"
        let bin = "\(dir)/bin", shared = "\(dir)/shared"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: "\(dir)/model.gguf", contents: Data([0]))
        var c = DaemonConfig()
        c.model.path = "\(dir)/model.gguf"
        try c.checkCluster(configFile: "t.toml", path: "")  // local: nothing to check
        c.cluster.engine = .slurm
        c.cluster.sharedDirectory = shared
        #expect(try #require(throws: ConfigError.self) { try c.checkCluster(configFile: "t.toml", path: bin) }.key
            == "cluster.shared_dir")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        let missing = try #require(throws: ConfigError.self) { try c.checkCluster(configFile: "t.toml", path: bin) }
        #expect(missing.reason.contains("sbatch is not on PATH"))
        for command in DaemonConfig.slurmCommands {
            FileManager.default.createFile(
                atPath: "\(bin)/\(command)", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        }
        try c.checkCluster(configFile: "t.toml", path: bin)
        c.model.path = "\(dir)/absent.gguf"
        #expect(try #require(throws: ConfigError.self) { try c.checkCluster(configFile: "t.toml", path: bin) }.key
            == "model.path")
    }
}
