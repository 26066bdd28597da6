import CRMAContinual
import CRMAModel
import Foundation

/// A forgetting-benchmark run as far as it went: the pipeline's progress, the answers scored after each
/// update (`correct[k][j][i]`: item i of domain j after update k) and the seconds it took so far.
struct SavedRun {
    var progress: RunProgress
    var correct: [[[Bool]]]
    var seconds: Double
}

/// Where the forgetting benchmark keeps the progress of its runs, so a run stopped mid-way (a session's
/// end, a reboot) resumes at its next update instead of starting again: after every update,
/// `<directory>/<strategy>-<seed>/<kind>.json` (the ledger, answers and seconds; written atomically, last)
/// and the state it names, `<kind>-<update>.safetensors` (``LearnedState/save(to:)``). The kinds: the
/// ungated run, the gated run, and the ungated run's fork (where the gated run starts). A strategy and
/// seed whose runs are both in results.json has its files removed.
///
/// Every file carries `key` (the benchmark's settings): a checkpoint written under other settings is
/// ignored, never resumed.
struct RunCheckpoints {
    enum Kind: String, CaseIterable { case ungated, gated, fork }

    let directory: String
    let key: String

    struct Ledger: Codable {
        var key: String
        var state: String
        var ledger: RunProgress.Ledger
        var correct: [[[Bool]]]
        var seconds: Double
    }

    func folder(_ strategy: Strategy, seed: UInt64) -> String { "\(directory)/\(strategy.rawValue)-\(seed)" }

    /// The saved run of that kind, or nil when there is none (or it was written under other settings).
    func load(_ kind: Kind, _ strategy: Strategy, seed: UInt64, model: LlamaModel) throws -> SavedRun? {
        let dir = folder(strategy, seed: seed)
        let path = "\(dir)/\(kind.rawValue).json"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let saved = try JSONDecoder().decode(Ledger.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        guard saved.key == key else { return nil }
        let state = try LearnedState.load("\(dir)/\(saved.state)", model: model)
        return SavedRun(
            progress: RunProgress(state: state, ledger: saved.ledger), correct: saved.correct, seconds: saved.seconds)
    }

    /// Saves `run` as that kind: its state first, then the ledger naming it; the previous state file goes last.
    func save(_ run: SavedRun, _ kind: Kind, _ strategy: Strategy, seed: UInt64) throws {
        let dir = folder(strategy, seed: seed)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let stateFile = "\(kind.rawValue)-\(run.progress.next).safetensors"
        try run.progress.state.save(to: "\(dir)/\(stateFile)")
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try AtomicFile.write(
            enc.encode(
                Ledger(key: key, state: stateFile, ledger: run.progress.ledger, correct: run.correct, seconds: run.seconds)
            ), to: "\(dir)/\(kind.rawValue).json")
        for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        where file.hasPrefix(kind.rawValue + "-") && file.hasSuffix(".safetensors") && file != stateFile {
            try? FileManager.default.removeItem(atPath: "\(dir)/\(file)")
        }
    }

    /// Drops every saved run of a strategy and seed (both runs are in results.json).
    func remove(_ strategy: Strategy, seed: UInt64) {
        try? FileManager.default.removeItem(atPath: folder(strategy, seed: seed))
        rmdir(directory)  // only when it is empty
    }
}
