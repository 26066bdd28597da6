import CRMAWire
import Foundation
import Testing

/// Answers recorded from a real crmad (Recorded/README.md says how) decode into the wire types, and the
/// types encode them back byte for byte: the server writes these very types with sorted keys, so any
/// drift between a type and what the daemon sends shows up here.
@Suite struct RecordedResponseTests {
    static let recorded = Bundle.module.resourceURL!.appendingPathComponent("Recorded")

    static func body(_ name: String) throws -> Data {
        var data = try Data(contentsOf: recorded.appendingPathComponent(name))
        while data.last == 0x0A { data.removeLast() }
        return data
    }

    /// `name` decoded as `T`, after checking that encoding it again gives the recorded bytes.
    static func decode<T: Codable>(_: T.Type, _ name: String) throws -> T {
        let data = try body(name)
        let value = try JSONDecoder().decode(T.self, from: data)
        #expect(String(decoding: try WireCoding.encode(value), as: UTF8.self) == String(decoding: data, as: UTF8.self))
        return value
    }

    @Test func statusOfAnIdleDaemon() throws {
        let s = try Self.decode(DaemonStatus.self, "status.json")
        #expect(s.state == "idle")
        #expect(s.job == nil)
        #expect(s.activeVersion == 5)
    }

    @Test func statusWhileTraining() throws {
        let s = try Self.decode(DaemonStatus.self, "status-training.json")
        let job = try #require(s.job)
        #expect(s.state == "training")
        #expect(job.phase == "training")
        #expect(job.domain == "medical")
        #expect(job.step <= job.totalSteps)
    }

    @Test func domains() throws {
        let d = try Self.decode([DomainRecord].self, "domains.json")
        #expect(d.map(\.name) == ["legal", "medical"])
        #expect(d.allSatisfy { $0.learnedLoss != nil && $0.currentLoss != nil })
    }

    @Test func versionsWithLineageAndARolledBackUpdate() throws {
        let v = try Self.decode([VersionRecord].self, "versions.json")
        #expect(v.map(\.state) == ["base", "accepted", "rolled_back", "accepted", "accepted"])
        #expect(v.filter(\.active).map(\.id) == [5])
        let rolledBack = v[2]
        #expect(rolledBack.reasons.map(\.severity) == [.critical])
        #expect(rolledBack.reasons.first?.metric == "holdout:medical")
        #expect(v[3].lineage["legal"]?.strategy == "frozen")
        #expect(v[4].lineage.keys.sorted() == ["legal", "medical"])
        #expect(v[4].references == v[4].lineage.mapValues(\.reference))
    }

    @Test func alerts() throws {
        let a = try Self.decode([AlertRecord].self, "alerts.json")
        #expect(Set(a.map(\.kind)).isSuperset(of: ["update_accepted", "drift_critical", "rollback"]))
        #expect(a.allSatisfy { $0.fields["message_id"] != nil })
    }

    @Test func lossMatrix() throws {
        let m = try Self.decode(LossMatrixView.self, "matrix.json")
        #expect(m.domains == ["medical", "legal"])
        #expect(m.rows.map(\.version) == [2, 4, 5])
    }

    @Test func jobs() throws {
        let j = try Self.decode([JobRecord].self, "jobs.json")
        #expect(Set(j.map(\.state)) == [.accepted, .rolledBack, .cancelled])
    }

    @Test func modelAnswers() throws {
        let g = try Self.decode(GenerateResponse.self, "generate.json")
        #expect(g.tokens == 4)
        #expect(g.stop == "max_tokens")
        let s = try Self.decode(ScoreResponse.self, "score.json")
        #expect(s.tokens == 7)
        #expect(abs(s.perplexity - exp(s.loss)) < 1e-6 * s.perplexity)
    }

    @Test func retryAndCancelAnswers() throws {
        let r = try Self.decode(RetryResponse.self, "retry.json")
        let c = try Self.decode(CancelResponse.self, "cancel.json")
        #expect(c.job == "\(r.job)")
        #expect(c.state == "cancelled")
    }

    @Test func errorBody() throws {
        let e = try Self.decode(ErrorBody.self, "error-not-found.json")
        #expect(e.error.code == "not_found")
        #expect(e.error.message.hasPrefix("no version 99"))
    }

    /// The event stream mixes two encoders in the daemon (progress objects are not key-sorted), so events
    /// are checked by decoding, not byte for byte.
    @Test func everyRecordedEventDecodes() throws {
        let lines = String(decoding: try Self.body("events.jsonl"), as: UTF8.self).split(separator: "\n")
        let events = try lines.map { try JSONDecoder().decode(ControlEvent.self, from: Data($0.utf8)) }
        #expect(events.first == .jobQueued(id: "1", domain: "medical"))
        #expect(events.contains(.job(id: "2", state: "rolled_back")))
        #expect(events.contains { if case .alert(kind: "drift_critical", _) = $0 { true } else { false } })
        let steps = events.compactMap { if case .progress(let p) = $0, p.id == 1 { p.step } else { nil } }
        #expect(steps == Array(1...8) + [8])
        for e in events { #expect(try WireCoding.roundTrip(e) == e) }
    }
}
