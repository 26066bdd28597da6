import CRMAWire
import Foundation
import Testing

/// The wire types' JSON names, which crmactl, scripts and curl users read (the names are the API: renaming a
/// field breaks them), and the hand-written codings (events, metric ids) surviving a round trip.
@Suite struct RoundTripTests {
    static let progress = JobProgress(
        id: 7, domain: "medical", phase: "training", step: 3, totalSteps: 40, loss: 2.81, tokensPerSecond: 245.5,
        etaSeconds: 118, spectralExcess: 3e-7, startedAt: 1_796_008_268.93)

    static let lineage = DomainLineage(
        strategy: "frozen", reference: 4.389, holdoutRows: "ab12", holdoutDocuments: ["d1", "d2"], sequenceLength: 32)

    static let reason = GateReasonRecord(
        severity: .critical, metric: .holdout(domain: "medical"), value: 8.0359, reference: 4.389, degradationPercent: 83.09,
        thresholdPercent: 10)

    static let version = VersionRecord(
        id: 3, parentID: 2, domain: "legal", jobID: 2, state: "rolled_back", adaptersHash: "h", configHash: "c",
        dataHashes: ["d3"], references: ["medical": 4.389], losses: ["medical": 8.0359, "legal": 3.7],
        general: ["bits_per_byte": 1.2], reasons: [reason], createdAt: 1_796_008_269.01, active: false,
        lineage: ["medical": lineage])

    @Test func daemonStatusWithARunningJob() throws {
        let s = DaemonStatus(
            state: "training", paused: false, activeVersion: 2, domains: 2, queueDepth: 1, job: Self.progress,
            model: "/models/m.gguf", strategy: "crma", uptimeSeconds: 12.5, lastError: "disk full")
        #expect(
            try WireCoding.keys(s) == [
                "state", "paused", "activeVersion", "domains", "queueDepth", "job", "model", "strategy",
                "uptimeSeconds",
                "lastError",
            ])
    }

    @Test func idleDaemonStatusLeavesOutTheJobAndLastError() throws {
        let s = DaemonStatus(
            state: "idle", paused: true, activeVersion: 1, domains: 0, queueDepth: 0, job: nil, model: "m",
            strategy: "naive", uptimeSeconds: 0, lastError: nil)
        #expect(try !WireCoding.keys(s).contains("job"))
        #expect(try !WireCoding.keys(s).contains("lastError"))
    }

    @Test func jobProgress() throws {
        #expect(
            try WireCoding.keys(Self.progress) == [
                "id", "domain", "phase", "step", "totalSteps", "loss", "tokensPerSecond", "etaSeconds",
                "spectralExcess",
                "startedAt",
            ])
    }

    @Test func versionRecordWithItsLineageAndGateReasons() throws {
        #expect(
            try WireCoding.keys(Self.version) == [
                "id", "parentID", "domain", "jobID", "state", "adaptersHash", "configHash", "dataHashes", "references",
                "losses", "general", "reasons", "createdAt", "active", "lineage",
            ])
        #expect(
            try WireCoding.keys(Self.lineage) == [
                "strategy", "reference", "holdoutRows", "holdoutDocuments", "sequenceLength",
            ])
        #expect(
            try WireCoding.keys(Self.reason) == [
                "severity", "metric", "value", "reference", "degradationPercent", "thresholdPercent", "sentence",
            ])
    }

    @Test func domainRecord() throws {
        let d = DomainRecord(
            name: "legal", files: 1, trainDocuments: 37, holdoutDocuments: 3, learnedLoss: nil, currentLoss: 3.69)
        #expect(try WireCoding.keys(d) == ["name", "files", "trainDocuments", "holdoutDocuments", "currentLoss"])
    }

    @Test(arguments: JobState.allCases) func jobRecordInEveryState(_ state: JobState) throws {
        let j = JobRecord(
            id: 4, domain: "legal", state: state, strategy: "frozen", createdAt: 1, updatedAt: 2, notBefore: 1.5,
            step: 8, totalSteps: 8, versionID: 4, message: "accepted")
        let sent = try JSONSerialization.jsonObject(with: WireCoding.encode(j)) as? [String: Any]
        #expect(sent?["state"] as? String == state.rawValue)
    }

    @Test func jobStatesAreSentAsSnakeCase() throws {
        #expect(
            JobState.allCases.map(\.rawValue) == [
                "queued", "training", "evaluating", "accepted", "rolled_back", "failed", "cancelled",
            ])
        #expect(JobState.allCases.filter(\.isFinal) == [.accepted, .rolledBack, .failed, .cancelled])
    }

    @Test func alertRecord() throws {
        let a = AlertRecord(
            id: 6, time: 1_796_008_317.95, kind: "drift_critical", priority: 2, message: "m", domain: "medical",
            version: 3, fields: ["drift_pct": "83.091"])
        #expect(try WireCoding.keys(a) == ["id", "time", "kind", "priority", "message", "domain", "version", "fields"])
    }

    @Test func lossMatrixViewIsBuiltFromTheActiveChain() throws {
        let base = VersionRecord(
            id: 1, parentID: nil, domain: nil, jobID: nil, state: "base", adaptersHash: nil, configHash: "",
            dataHashes: [], references: [:], losses: [:], general: [:], reasons: [], createdAt: 0, active: false)
        var v2 = Self.version
        v2.id = 2
        v2.parentID = 1
        v2.domain = "medical"
        v2.state = "accepted"
        v2.losses = ["medical": 4.389]
        var v4 = Self.version
        v4.id = 4
        v4.parentID = 2
        v4.state = "accepted"
        v4.active = true
        v4.references = ["medical": 4.389, "legal": 3.7]
        v4.losses = ["medical": 4.8279, "legal": 3.7]
        let view = LossMatrixView.build([base, v2, Self.version, v4])
        #expect(view.domains == ["medical", "legal"])
        #expect(view.rows.map { $0.version } == [2, 4])
        #expect(abs((view.rows[1].driftPercent["medical"] ?? 0) - 10) < 1e-9)
        #expect(try WireCoding.keys(view) == ["domains", "rows"])
        #expect(try WireCoding.keys(view.rows[0]) == ["version", "learned", "losses", "driftPercent"])
    }

    @Test func errorBodyNestsCodeAndMessage() throws {
        let e = ErrorBody(code: "not_found", message: "no version 99")
        #expect(
            String(decoding: try WireCoding.encode(e), as: UTF8.self)
                == #"{"error":{"code":"not_found","message":"no version 99"}}"#)
    }

    @Test func requestBodies() throws {
        #expect(
            String(decoding: try WireCoding.encode(RollbackRequest(version: 1)), as: UTF8.self) == #"{"version":1}"#)
        #expect(
            String(decoding: try WireCoding.encode(RetryRequest(domain: "legal")), as: UTF8.self)
                == #"{"domain":"legal"}"#)
        let generate = GenerateRequest(prompt: "hi", maxTokens: 5)
        #expect(
            String(decoding: try WireCoding.encode(generate), as: UTF8.self) == #"{"max_tokens":5,"prompt":"hi"}"#)
        #expect(try JSONDecoder().decode(GenerateRequest.self, from: Data(#"{"prompt":"hi"}"#.utf8)).maxTokens == nil)
    }

    @Test func actionAndModelResponses() throws {
        #expect(String(decoding: try WireCoding.encode(RetryResponse(job: 6)), as: UTF8.self) == #"{"job":6}"#)
        #expect(
            String(decoding: try WireCoding.encode(CancelResponse(job: "6", state: "cancelled")), as: UTF8.self)
                == #"{"job":"6","state":"cancelled"}"#)
        #expect(
            String(decoding: try WireCoding.encode(GenerateResponse(text: " ok", tokens: 1, stop: "end_of_turn", model: "crma:legal")), as: UTF8.self)
                == #"{"model":"crma:legal","stop":"end_of_turn","text":" ok","tokens":1}"#)
    }

    @Test(arguments: [
        ControlEvent.progress(RoundTripTests.progress), .job(id: "4", state: "accepted"),
        .jobQueued(id: "5", domain: "medical"),
        .alert(kind: "rollback", message: "version 3 rolled back"),
    ])
    func controlEvent(_ event: ControlEvent) throws {
        #expect(try WireCoding.roundTrip(event) == event)
    }

    /// Gate reasons are stored and sent with their metric and severity as text, and read back typed.
    @Test func gateMetricsAndSeveritiesTravelAsText() throws {
        #expect(
            String(decoding: try WireCoding.encode(Self.reason), as: UTF8.self)
                == #"{"degradationPercent":83.09,"metric":"holdout:medical","reference":4.389,"sentence":"holdout:medical drifted +83.09% (8.0359 vs 4.3890, critical threshold 10.0%)","severity":"critical","thresholdPercent":10,"value":8.0359}"#)
        let ids: [MetricID] = [
            .holdout(domain: "medical"), .previousRows(domain: "legal"), .holdoutSlice(domain: "code"),
            .general(score: "piqa_acc"), .newDomainHoldout, .parentVersion, .other("arc_easy acc"),
        ]
        #expect(ids.map(\.description) == [
            "holdout:medical", "holdout:legal:previous", "holdout-slice:code", "general:piqa_acc",
            "new domain holdout loss", "parent version", "arc_easy acc",
        ])
        #expect(ids.map { MetricID($0.description) } == ids)
        #expect(ids.map(\.domain) == ["medical", "legal", "code", nil, nil, nil, nil])
        #expect(GateSeverity.allCases.map(\.rawValue) == ["warning", "critical", "not_learned", "non_finite", "stale"])
        #expect(GateSeverity.allCases.filter { !$0.blocksPromotion } == [.warning])
    }

    @Test func controlEventsCarryTheirKindInTheEventField() throws {
        #expect(
            String(decoding: try WireCoding.encode(ControlEvent.jobQueued(id: "5", domain: "medical")), as: UTF8.self)
                == #"{"domain":"medical","event":"job_queued","job":"5"}"#)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ControlEvent.self, from: Data(#"{"event":"reboot"}"#.utf8))
        }
    }
}
