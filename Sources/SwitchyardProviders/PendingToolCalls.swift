/// The tool calls of the conversation still waiting for their tool messages, in call order.
///
/// Adding, answering and finding the first open call cost O(1) each (amortized) whatever order
/// the answers come in: a list searched with `firstIndex` and shortened with `remove(at:)` made
/// a request with n calls and n answers cost O(n²), minutes for the ~70,000 pairs an 8 MiB body
/// can hold.
struct PendingToolCalls {
    private var calls: [(id: String, path: String)] = []
    private var answered: [Bool] = []
    /// Positions of each id's calls and how many of them were answered (in order).
    private var byID: [String: (positions: [Int], answered: Int)] = [:]
    private var firstOpen = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func add(id: String, path: String) {
        byID[id, default: ([], 0)].positions.append(calls.count)
        calls.append((id, path))
        answered.append(false)
        count += 1
    }

    /// Marks the first open call with `id` answered; false when no call with that id is open.
    mutating func answer(_ id: String) -> Bool {
        guard var entry = byID[id], entry.answered < entry.positions.count else { return false }
        answered[entry.positions[entry.answered]] = true
        entry.answered += 1
        byID[id] = entry
        count -= 1
        return true
    }

    /// The first call, in call order, that is not answered yet.
    mutating func first() -> (id: String, path: String)? {
        while firstOpen < calls.count, answered[firstOpen] { firstOpen += 1 }
        return firstOpen < calls.count ? calls[firstOpen] : nil
    }

    /// The ids of the open calls, in call order.
    var openIDs: [String] { calls.indices.filter { !answered[$0] }.map { calls[$0].id } }

    mutating func removeAll() { self = PendingToolCalls() }
}
