import CRMAContinual
import CRMADaemon
import CRMAModel
import CRMAWire
import Foundation

/// What the control API may ask of the daemon, and nothing more: reads of its state, the operator's
/// actions, and model work scheduled between training steps. ``ControlServer`` holds one; crmad gives it the
/// ``Daemon``, tests a stand-in.
public protocol ControlAPI: Sendable {
    /// When the daemon started (the inference API's `created`).
    var started: Date { get }
    /// The strategy a retry uses when it names none.
    var defaultStrategy: Strategy { get }

    func status() -> DaemonStatus
    func domains() throws -> [DomainRecord]
    func versions() throws -> [VersionRecord]
    func version(_ id: Int64) throws -> VersionRecord?
    func alerts(limit: Int) throws -> [AlertRecord]
    func jobs(limit: Int) throws -> [JobRecord]
    func rejectedFileCount() -> Int
    /// Every progress update, job change and alert as one JSON object per line, until the daemon stops.
    func subscribe() -> AsyncStream<String>

    func pause() throws
    func resume() throws
    func rollback(to version: Int64) throws
    func retry(domain: String, strategy: Strategy) throws -> Int64
    func cancel(job id: Int64) throws -> JobState
    func export(_ request: ExportRequest) async throws -> ExportResponse

    func generate(_ request: GenerateRequest, maxTokens: Int) async throws -> GenerateResponse
    func score(_ text: String) async throws -> ScoreResponse?
    func servedModels() throws -> [String]
    func plan(_ r: ChatCompletionRequest) throws -> InferencePlan
    /// One plan per prompt of the request, answered in order.
    func plan(_ r: CompletionRequest) throws -> [InferencePlan]
    func complete(_ plan: InferencePlan) async throws -> (model: String, completion: TextCompletion)
    func stream(_ plan: InferencePlan, into events: AsyncStream<InferenceEvent>.Continuation) throws
    func completionLogprobs(_ c: TextCompletion, plan: InferencePlan) -> CompletionLogprobs?
    func chatLogprobs(_ c: TextCompletion) -> ChatLogprobs?

    func tokenizerInfo() -> TokenizerInfo
    func tokenize(_ r: TokenizeRequest) throws -> TokenizeResponse
    func detokenize(_ r: DetokenizeRequest) throws -> DetokenizeResponse
}

extension Daemon: ControlAPI {
    public var defaultStrategy: Strategy { config.training.strategy }
}
