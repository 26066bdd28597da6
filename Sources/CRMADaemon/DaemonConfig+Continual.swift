import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMATraining

extension DaemonConfig {
    /// The update pipeline's settings for a job with `strategy` (the benchmark builds the same type from
    /// its flags): adapters, optimizer, steps or epochs, strategy parameters, stability check and gate.
    public func continualConfig(strategy: Strategy) -> ContinualConfig {
        var c = ContinualConfig()
        c.strategy = strategy
        c.lora = LoRAConfig(
            rank: adapter.loraRank, alpha: adapter.loraAlpha, targets: adapter.loraTargets.compactMap(Projection.init))
        if adapter.crmaMixing == "identity" { c.crma.mixing = .identity }
        c.optimizer.learningRates = [
            .proj: training.loraLearningRate, .structural: training.structuralLearningRate,
            .gate: training.gateLearningRate,
        ]
        c.stepsPerDomain = training.steps
        c.epochs = training.epochs
        c.batchRows = training.batchRows
        c.checkpointInterval = training.checkpointInterval
        c.replayRatio = training.replayRatio
        c.ewcLambda = training.ewcLambda
        c.ewcOnlineGamma = training.ewcGamma < 1 ? training.ewcGamma : nil
        c.lwfAlpha = training.lwfAlpha
        c.lwfTemperature = training.lwfTemperature
        c.lwfTeacher = training.lwfTeacher
        c.oloraLambda = training.oloraLambda
        c.seed = training.seed
        c.stabilityCheck = StabilityCheck(
            interval: monitor.checkInterval, sliceRows: 2, criticalPercent: monitor.criticalPercent)
        c.gate = GateThresholds(warn: monitor.warnPercent, critical: monitor.criticalPercent)
        return c
    }
}
