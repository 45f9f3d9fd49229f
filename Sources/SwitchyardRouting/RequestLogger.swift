import Logging

/// The router's logger for one request: `request_id` joins the metadata only when a line is
/// actually written. Attaching it up front cost an allocation (and a log handler's metadata copy)
/// on every request, while at the default level the router writes nothing.
///
/// The level is read once, when the router is made: `Logger.logLevel` copies the handler out of
/// the logger's box (a retain and release of each of its references), and the router asked on
/// every request. A `Logger` is a value, so the router's logger keeps its level.
struct RequestLogger {
    let base: Logger
    let requestID: String
    let level: Logger.Level

    /// `level` is `base.logLevel`, read once by the owner of `base` (the router, when it is made).
    init(base: Logger, requestID: String, level: Logger.Level) {
        self.base = base
        self.requestID = requestID
        self.level = level
    }

    /// The logger with `request_id` set, for code that takes a `Logger`.
    var logger: Logger {
        var l = base
        l[metadataKey: "request_id"] = "\(requestID)"
        return l
    }

    func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        if level <= .debug { logger.debug(message(), metadata: metadata()) }
    }

    func info(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        if level <= .info { logger.info(message(), metadata: metadata()) }
    }

    func warning(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        if level <= .warning { logger.warning(message(), metadata: metadata()) }
    }
}
