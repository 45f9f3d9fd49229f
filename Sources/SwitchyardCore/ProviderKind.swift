/// The wire formats Switchyard speaks upstream (`providers[].kind`). The raw value is the
/// configuration's spelling; `SwitchyardProviders` gives each its codec.
public enum ProviderKind: String, Sendable, Hashable, CaseIterable {
    case openai, anthropic, gemini

    /// `base_url` when the configuration names none: the provider's public API.
    public var defaultBaseURL: String {
        switch self {
        case .openai: "https://api.openai.com/v1"
        case .anthropic: "https://api.anthropic.com"
        case .gemini: "https://generativelanguage.googleapis.com"
        }
    }

    /// The key variable the provider's own SDKs read, which the embedded default configuration
    /// looks for.
    public var standardKeyEnv: String {
        switch self {
        case .openai: "OPENAI_API_KEY"
        case .anthropic: "ANTHROPIC_API_KEY"
        case .gemini: "GEMINI_API_KEY"
        }
    }

    /// The model-name prefixes the embedded default configuration routes to this provider.
    public var modelPrefixes: [String] {
        switch self {
        case .openai: ["gpt-", "o1", "o3", "o4", "chatgpt-"]
        case .anthropic: ["claude-"]
        case .gemini: ["gemini-"]
        }
    }
}
