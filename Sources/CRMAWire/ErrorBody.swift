/// The body of every control API error: `{"error": {"code": …, "message": …}}`.
public struct ErrorBody: Sendable, Equatable, Codable {
    /// A stable `code` ("forbidden", "bad_request", "not_found", "conflict", "unavailable", "too_large",
    /// "method_not_allowed", "internal") and a message for the operator.
    public struct Detail: Sendable, Equatable, Codable {
        public var code: String
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}
