import Synchronization

/// Room for a request's async frames, made once at the start of its task.
///
/// A task keeps its async functions' frames in blocks ("slabs") that it mallocs as its call
/// chain deepens and frees when it ends. A slab holds 984 bytes unless one frame needs more, and
/// the request path's frames are larger than that (the router's driver about 12 KB, the inbound
/// handler 6 KB, a stream's session and pump 3-5 KB), so nearly every level of the chain took a
/// slab of its own: 26 slab mallocs (and as many frees) per streamed answer (heaptrack, c=16). A
/// task keeps an emptied slab for its later frames, so one frame of `requestBytes` asked for
/// first leaves a slab that the rest of the chain fills in order: 3 slab mallocs per streamed
/// answer (the task's first, the handler's, this one).
///
/// The frame is reserved by an async function whose only frame variable is a large buffer that
/// lives across a suspension point on a branch never taken: its frame has the buffer's size,
/// nothing is written into it, and the function returns at once (no suspension, no executor
/// change: it runs on its caller's executor).
public enum TaskFrames {
    /// What the deepest request path (a streamed answer: handler, router, first upstream event)
    /// needs: 32 KB still left 11 slab mallocs per streamed answer, 48 KB 3. A chain that
    /// outgrows it mallocs slabs past it as before.
    public static let requestBytes = 48 << 10

    /// Makes the current task's next slab at least `TaskFrames.requestBytes` large. Call it from
    /// the top of a request's task, before the deep calls.
    public nonisolated(nonsending) static func reserve() async {
        // Never true; read at run time so the branch (and the frame it sizes) stays.
        if never.load(ordering: .relaxed) {
            var frame = InlineArray<6144, UInt64>(repeating: 0)
            await Task.yield()
            withUnsafeMutableBytes(of: &frame) { sink($0) }
        }
    }

    private static let never = Atomic<Bool>(false)

    @inline(never)
    private static func sink(_ bytes: UnsafeMutableRawBufferPointer) {
        if bytes.count == 0 { print("empty frame") }
    }
}
