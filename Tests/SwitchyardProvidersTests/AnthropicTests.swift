import Testing

/// Parent suite of the Anthropic codec tests, so `swift test --filter AnthropicTests` runs them
/// all: `AnthropicTests/RequestTests`, `/ResponseTests`, `/ErrorTests`, `/StreamTests`.
@Suite struct AnthropicTests {}
