/// Who owns what the gateway keeps for a client (tasks, idempotency records, stored responses):
/// the configured NAME of the client key that made it, never the key itself. Another owner's
/// record reads as absent.
public enum Owner {
    /// The owner of every call on a gateway without client keys (`auth.keys` empty).
    public static let anonymous = "anonymous"

    /// The owner an operator acts for on the command line: `explicit` when given, else the only
    /// configured key's name, else `anonymous` when there is no key; nil when several keys are
    /// configured and none was named.
    public static func resolve(explicit: String?, keyNames: [String]) -> String? {
        if let explicit { return explicit }
        switch keyNames.count {
        case 0: return anonymous
        case 1: return keyNames[0]
        default: return nil
        }
    }
}
