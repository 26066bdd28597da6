import Foundation

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Renders conversations into a model's prompt format. Rather than a Jinja interpreter, it recognises the
/// template families in use and renders them natively: ChatML (SmolLM2, Qwen), Llama 2 `[INST]`, Zephyr and
/// Gemma's turns. ChatML's default system prompt is taken from the model's own template.
public struct ChatTemplate: Sendable, Equatable {
    public enum Format: String, Sendable { case chatML, llama2, zephyr, gemma }

    public let format: Format
    /// System prompt inserted when the conversation has none (ChatML templates that define one).
    public let defaultSystem: String?

    public init(format: Format, defaultSystem: String? = nil) {
        self.format = format
        self.defaultSystem = defaultSystem
    }

    /// Recognises the format of a Jinja chat template; nil when it is none of the known families.
    public init?(jinja: String) {
        if jinja.contains("<|im_start|>") {
            self.init(format: .chatML, defaultSystem: Self.chatMLDefaultSystem(in: jinja))
        } else if jinja.contains("[INST]") {
            self.init(format: .llama2)
        } else if jinja.contains("<|user|>") {
            self.init(format: .zephyr)
        } else if jinja.contains("<start_of_turn>") {
            self.init(format: .gemma)
        } else {
            return nil
        }
    }

    /// The fixed system prompt a ChatML template writes when the conversation has none: the first
    /// `<|im_start|>system` line-break … `<|im_end|>` whose text is a literal (no Jinja expression or
    /// quote in it). Templates write the line break as a real newline (SmolLM2's GGUF) or as `\n` inside a
    /// Jinja string (Qwen's, whose first such opening is followed by an expression: the tools branch).
    static func chatMLDefaultSystem(in jinja: String) -> String? {
        for (lineBreak, newline) in [("\n", "\n"), ("\\n", "\n")] {
            var from = jinja.startIndex
            while let start = jinja.range(of: "<|im_start|>system" + lineBreak, range: from..<jinja.endIndex) {
                from = start.upperBound
                guard let end = jinja.range(of: "<|im_end|>", range: start.upperBound..<jinja.endIndex) else { break }
                let text = jinja[start.upperBound..<end.lowerBound]
                if !text.isEmpty, !text.contains(where: { "{}'\"".contains($0) }) {
                    return text.replacingOccurrences(of: lineBreak, with: newline)
                }
            }
        }
        return nil
    }

    /// The prompt text for `messages`, ending with the opening of the assistant's turn when
    /// `addGenerationPrompt`.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch format {
        case .chatML:
            if let defaultSystem, messages.first?.role != "system" {
                out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama2:
            var system: String?
            for m in messages {
                switch m.role {
                case "system": system = m.content
                case "user":
                    let content = system.map { "<<SYS>>\n\($0)\n<</SYS>>\n\n" + m.content } ?? m.content
                    system = nil
                    out += "<s>[INST] \(content) [/INST]"
                default: out += " \(m.content) </s>"
                }
            }
        case .zephyr:
            for m in messages { out += "<|\(m.role)|>\n\(m.content)</s>\n" }
            if addGenerationPrompt { out += "<|assistant|>\n" }
        case .gemma:
            // Gemma has no system turn: a system message opens the first user turn, a blank line after it.
            var system: String?
            for m in messages {
                switch m.role {
                case "system": system = m.content
                case "user":
                    let content = system.map { $0 + "\n\n" + m.content } ?? m.content
                    system = nil
                    out += "<start_of_turn>user\n\(content)<end_of_turn>\n"
                default: out += "<start_of_turn>model\n\(m.content)<end_of_turn>\n"
                }
            }
            if addGenerationPrompt { out += "<start_of_turn>model\n" }
        }
        return out
    }

    /// Token strings that end an assistant turn in this format.
    public var stopStrings: [String] {
        switch format {
        case .chatML: ["<|im_end|>"]
        case .llama2, .zephyr: ["</s>"]
        case .gemma: ["<end_of_turn>"]
        }
    }
}

extension Tokenizer {
    /// The model's chat format: its own template when it is one of the known families; else Gemma's turns
    /// when the vocabulary has them (Gemma's base models ship without a template), else ChatML.
    public var chatFormat: ChatTemplate {
        chatTemplate.flatMap(ChatTemplate.init(jinja:))
            ?? ChatTemplate(format: id(of: "<start_of_turn>") != nil ? .gemma : .chatML)
    }
}
