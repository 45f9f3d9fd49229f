import SwitchyardCore
import SwitchyardRouting

/// The access line written straight into the bytes of a `JSONLogHandler` line, when that handler
/// is the gateway's and has no metadata of its own (`Gateway.accessLogHandler`). Through
/// swift-log, `emit` built a metadata table (and one per attempt and per continuation) that the
/// handler then sorted and walked value by value, casting each to find its form: 11-12 us per
/// request in `switchyard-bench gateway --access-log`, more than the rest of the gateway.
///
/// The bytes are exactly those `JSONLogHandler.log` writes for `emit`'s table (pinned by
/// `AccessLineTests`): the same keys, in the same sorted order; integers bare; `stream` and every
/// other value a JSON string escaped by `JSON.writeString`; milliseconds in `String(Double)`'s form.
extension RequestLog {
    func writeFields(into o: inout [UInt8], status: Int, outcome: RequestOutcome, elapsed: Duration) {
        // Sorted by key, as the handler sorts a table: keep new fields in their place.
        Self.key("api", &o)
        JSON.writeString(api.label, to: &o)
        Self.key("client_key", &o)
        JSON.writeString(keyName, to: &o)
        if let usage {
            Self.key("completion_tokens", &o)
            JSONLogHandler.digits(usage.completionTokens, width: 1, into: &o)
        }
        if !continuations.isEmpty {
            Self.key("continuations", &o)
            o.append(UInt8(ascii: "["))
            for (i, c) in continuations.enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                Self.append(#"{"from":"#, &o)
                JSON.writeString(c.from, to: &o)
                Self.append(#","outcome":"#, &o)
                JSON.writeString(c.outcome.rawValue, to: &o)
                Self.append(#","to":"#, &o)
                JSON.writeString(c.to, to: &o)
                o.append(UInt8(ascii: "}"))
            }
            o.append(UInt8(ascii: "]"))
        }
        if let errorCode {
            Self.key("error", &o)
            JSON.writeString(errorCode, to: &o)
        }
        Self.key("latency_ms", &o)
        Self.milliseconds(elapsed, into: &o)
        if let model {
            Self.key("model", &o)
            JSON.writeString(Self.logged(model), to: &o)
        }
        if let operation {
            Self.key("operation", &o)
            JSON.writeString(operation, to: &o)
        }
        Self.key("outcome", &o)
        JSON.writeString(outcome.rawValue, to: &o)
        if let usage {
            Self.key("prompt_tokens", &o)
            JSONLogHandler.digits(usage.promptTokens, width: 1, into: &o)
        }
        if let provider {
            Self.key("provider", &o)
            JSON.writeString(provider, to: &o)
        }
        Self.key("request_id", &o)
        JSON.writeString(requestID, to: &o)
        Self.key("status", &o)
        JSONLogHandler.digits(status, width: 1, into: &o)
        Self.key("stream", &o)
        Self.append(stream ? #""true""# : #""false""#, &o)
        if let streamError {
            Self.key("stream_error", &o)
            JSON.writeString(streamError, to: &o)
        }
        if !attempts.isEmpty {
            Self.key("targets", &o)
            o.append(UInt8(ascii: "["))
            for (i, a) in attempts.enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                Self.append(#"{"attempt":"#, &o)
                JSONLogHandler.digits(a.attempt, width: 1, into: &o)
                Self.append(#","ms":"#, &o)
                Self.milliseconds(a.duration, into: &o)
                Self.append(#","outcome":"#, &o)
                JSON.writeString(a.outcome.rawValue, to: &o)
                Self.append(#","target":"#, &o)
                JSON.writeString(a.target, to: &o)
                o.append(UInt8(ascii: "}"))
            }
            o.append(UInt8(ascii: "]"))
        }
        if let ttft {
            Self.key("ttft_ms", &o)
            Self.milliseconds(ttft, into: &o)
        }
        if let upstreamModel {
            Self.key("upstream_model", &o)
            JSON.writeString(upstreamModel, to: &o)
        }
    }

    /// A model name as the line holds it: its first 128 characters. A name of at most 128 UTF-8
    /// bytes has at most 128 characters and is kept whole without counting them.
    static func logged(_ model: String) -> String {
        model.utf8.count <= 128 ? model : String(model.prefix(128))
    }

    /// `,"name":`
    static func key(_ name: StaticString, _ o: inout [UInt8]) {
        o.append(UInt8(ascii: ","))
        o.append(UInt8(ascii: "\""))
        append(name, &o)
        o.append(UInt8(ascii: "\""))
        o.append(UInt8(ascii: ":"))
    }

    static func append(_ s: StaticString, _ o: inout [UInt8]) {
        s.withUTF8Buffer { o.append(contentsOf: $0) }
    }

    /// `d` in milliseconds rounded to the microsecond, as a JSON string in the form `String(Double)`
    /// gives `ms(d)` (`"0.0"`, `"12.5"`, `"1234.567"`), written from the whole number of
    /// microseconds. That form is the shortest decimal that reads back as the same `Double`. Below
    /// 2^50 microseconds (35 years) a `Double` step is under a tenth of a microsecond, so no
    /// shorter decimal (a microsecond or more away) reads back as it: the form is the
    /// microseconds' own decimal without trailing zeros. Beyond that (and for a negative value or
    /// -0, which a `Duration` measured forward never gives) `String(Double)` writes it.
    static func milliseconds(_ d: Duration, into o: inout [UInt8]) {
        let micros = (d.inMilliseconds * 1000).rounded()
        guard micros.sign == .plus, micros < 0x1p50 else {
            JSON.writeString(String(micros / 1000), to: &o)
            return
        }
        let n = Int(micros)
        o.append(UInt8(ascii: "\""))
        JSONLogHandler.digits(n / 1000, width: 1, into: &o)
        o.append(UInt8(ascii: "."))
        var fraction = n % 1000
        var width = 3
        if fraction == 0 {
            width = 1
        } else {
            while fraction % 10 == 0 {
                fraction /= 10
                width -= 1
            }
        }
        JSONLogHandler.digits(fraction, width: width, into: &o)
        o.append(UInt8(ascii: "\""))
    }
}
