/// One forward window of rolling-window scoring: the model reads `input` and the last
/// `predicted.count` positions are scored against `predicted`.
public struct ScoringWindow: Sendable, Equatable {
    public let input: [Int32]
    public let predicted: [Int32]
}

/// lm-eval's `loglikelihood_rolling` windows (`get_rolling_token_windows` with context length 1, made
/// disjoint): every token of the document is predicted exactly once; the first window is prefixed with
/// `prefix` (the BOS/EOT token), later windows use the `maxLength` preceding tokens as context.
public enum RollingWindows {
    public static func make(tokens: [Int32], prefix: Int32, maxLength: Int) -> [ScoringWindow] {
        precondition(maxLength >= 1)
        guard !tokens.isEmpty else { return [] }
        var windows: [ScoringWindow] = []
        let first = min(maxLength, tokens.count)
        windows.append(ScoringWindow(input: [prefix] + tokens[..<(first - 1)], predicted: Array(tokens[..<first])))
        var predicted = first
        while predicted < tokens.count {
            let n = min(tokens.count - predicted, maxLength)
            let end = predicted + n
            windows.append(
                ScoringWindow(
                    input: Array(tokens[(end - maxLength - 1)..<(end - 1)]), predicted: Array(tokens[predicted..<end])))
            predicted = end
        }
        return windows
    }
}
