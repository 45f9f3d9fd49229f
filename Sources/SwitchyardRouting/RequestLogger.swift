import Logging

/// The router's logger for one request: `request_id` joins the metadata only when a line is
/// actually written. Attaching it up front cost an allocation (and a log handler's metadata copy)
/// on every request, while at the default level the router writes nothing.
struct RequestLogger {
    let base: Logger
    let requestID: String

    /// The logger with `request_id` set, for code that takes a `Logger`.
    var logger: Logger {
        var l = base
        l[metadataKey: "request_id"] = "\(requestID)"
        return l
    }

    func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        if base.logLevel <= .debug { logger.debug(message(), metadata: metadata()) }
    }

    func info(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        if base.logLevel <= .info { logger.info(message(), metadata: metadata()) }
    }

    func warning(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        if base.logLevel <= .warning { logger.warning(message(), metadata: metadata()) }
    }
}
