/// The order targets are tried in: ascending `priority`; within one priority a weighted random
/// order without replacement (each pick proportional to `weight` among those left).
public enum TargetPlan {
    /// - Parameter random: values in `[0, 1)`; one is drawn per pick in a pool of two or more.
    public static func order(_ targets: [RouteTarget], random: () -> Double) -> [RouteTarget] {
        // One target (most models): nothing to order, and no grouping to pay for on every request.
        if targets.count < 2 { return targets }
        return order(targets, priority: \.priority, weight: \.weight, random: random)
    }

    /// The same for any element (tests use plain values).
    public static func order<T>(
        _ items: [T], priority: (T) -> Int, weight: (T) -> Int, random: () -> Double
    ) -> [T] {
        // Stable grouping: equal priorities keep their configured order as the tie-break.
        let groups = Dictionary(grouping: items.indices, by: { priority(items[$0]) })
        var out: [T] = []
        out.reserveCapacity(items.count)
        for p in groups.keys.sorted() {
            var pool = groups[p]!.sorted()
            while pool.count > 1 {
                let weights = pool.map { max(weight(items[$0]), 0) }
                let total = weights.reduce(0, +)
                var pick = 0
                if total > 0 {
                    let r = min(max(random(), 0), 0.999_999_999_999) * Double(total)
                    var acc = 0.0
                    for (i, w) in weights.enumerated() {
                        acc += Double(w)
                        if r < acc {
                            pick = i
                            break
                        }
                    }
                }
                out.append(items[pool.remove(at: pick)])
            }
            out.append(contentsOf: pool.map { items[$0] })
        }
        return out
    }
}
