import Dispatch
import Foundation
import SwitchyardCore
import SwitchyardTasks
import Synchronization
import Testing

@testable import SwitchyardStore

@Suite struct ConcurrencyTests {
    /// Two stores (two writer connections, as the gateway and the CLI would have) hammer the same
    /// task from two threads; every append must survive with gap-free, unique sequence numbers.
    @Test func twoConnectionsOnTwoThreadsLoseNoUpdates() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            let stores = [try SQLiteStore(path: path), try SQLiteStore(path: path)]
            _ = try stores[0].createTask(id: "t1", owner: "alice", agent: "a")
            _ = try stores[0].createTask(id: "t2", owner: "alice", agent: "a")
            let perThread = 200
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { worker in
                for i in 0..<perThread {
                    do {
                        try stores[worker].transition(
                            taskID: "t1", event: nil,
                            events: [NewHistoryEvent(type: "w\(worker)", data: ["i": .int(i)])]
                        )
                        if i % 20 == 0 {
                            _ = try stores[worker].createTask(id: "w\(worker)-\(i)", owner: "bob", agent: "a")
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
            #expect(failures.withLock { $0 } == [])
            let history = try stores[1].events(taskID: "t1", limit: 10_000)
            #expect(history.count == 1 + 2 * perThread)
            #expect(history.map(\.seq) == Array(1...Int64(1 + 2 * perThread)))
            for worker in 0..<2 {
                let mine = history.filter { $0.type == "w\(worker)" }.compactMap { $0.data["i"]?.intValue }
                #expect(mine == Array(0..<perThread), "each thread's appends in its own order")
            }
            #expect(try stores[0].task(id: "t1", owner: "alice")?.task.lastEventSeq == Int64(1 + 2 * perThread))
            #expect(try stores[0].listTasks(owner: "bob", limit: 100).tasks.count == 20)
        }
    }

    @Test func performRunsOffThePoolAndCarriesTypedErrors() async throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/tasks.db")
        let created = try await store.perform { store throws(StoreError) in
            try store.createTask(id: "t1", owner: "alice", agent: "a")
        }
        #expect(created.state == .idle)
        async let a = store.perform { store throws(StoreError) in try store.transition(taskID: "t1", event: .start) }
        async let b = store.perform { store throws(StoreError) in try store.listTasks(owner: "alice") }
        #expect(try await a.state == .planning)
        #expect(try await b.tasks.count == 1)
        do {
            _ = try await store.perform { store throws(StoreError) in try store.transition(taskID: "t1", event: .resume)
            }
            Issue.record("expected a rejection")
        } catch {
            #expect(error.kind == .rejected)
            #expect(error.rejection?.reason == "cannot resume a task that is planning")
        }
    }

    /// However many calls wait for the store, its work holds one thread for writes: on a
    /// concurrent queue each waiting call held a libdispatch thread blocked on the writer
    /// connection's lock (or in its fsync), and libdispatch added threads for the blocked ones
    /// (`bench/soak.py` with stored Responses API requests: 13 threads, then 21 ten minutes later).
    @Test func storeWritesRunOneAtATime() async throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/tasks.db")
        final class Overlap: Sendable {
            let running = Atomic<Int>(0)
            let peak = Atomic<Int>(0)
        }
        let overlap = Overlap()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<32 {
                group.addTask {
                    _ = try await store.perform { store throws(StoreError) in
                        let now = overlap.running.add(1, ordering: .relaxed).newValue
                        _ = overlap.peak.max(now, ordering: .relaxed)
                        defer { overlap.running.subtract(1, ordering: .relaxed) }
                        usleep(2_000)  // a commit's fsync takes about as long
                        return try store.createTask(id: "t\(i)", owner: "alice", agent: "a")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(overlap.peak.load(ordering: .relaxed) == 1)
        #expect(try store.listTasks(owner: "alice", limit: 100).tasks.count == 32)
    }
}
