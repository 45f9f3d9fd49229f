import Foundation
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardGateway
@testable import SwitchyardStore

/// A full disk under the task store, through the real gateway: tasks get a clear 507, `/readyz`
/// and the metrics say so, chat goes on, and a task whose creation failed leaves nothing behind.
@Suite struct HostileStoreTests {
    @Test func aFullDiskIsReportedAndChatGoesOn() async throws {
        let llm = try GatedLLM()
        let h = try await startTaskGateway(
            mock: llm.server,
            storePath: sqliteStorePath("full", because: "fills the disk through SQLite's max_page_count"))
        defer {
            h.stop()
            llm.stop()
        }
        let first = try await h.request("POST", "/v1/tasks", body: taskBody([stepJSON("a", "before")]))
        #expect(first.head.status == 202)
        // Its step's checkpoints are writes too: let them finish before the disk "fills up".
        let id = try #require(first.json?["id"]?.stringValue)
        _ = try await h.waitForTask(id) { $0["state"]?.stringValue == "completed" }
        let store = try #require(h.server.stores.sqlite)
        try store.writer.withLock { connection throws(StoreError) in
            let pages = try connection.queryOne("PRAGMA page_count", cache: false) { $0.int(0) } ?? 1
            try connection.execute("PRAGMA max_page_count = \(pages)")  // SQLITE_FULL from now on
        }

        let big = String(repeating: "z", count: 40_000)
        let refused = try await h.request("POST", "/v1/tasks", body: taskBody([stepJSON("a", big)]))
        #expect(refused.head.status == 507)
        #expect(refused.json?["error"]?["code"] == "store_full")
        // Nothing of the refused task is left (its creation is one transaction).
        let listed = try await h.request("GET", "/v1/tasks")
        #expect(listed.json?["data"]?.arrayValue?.count == 1)

        let ready = try await h.request("GET", "/readyz", key: nil)
        #expect(ready.json?["store"]?["ok"] == false)
        #expect(ready.json?["store"]?["error"] == "disk_full")
        let metrics = try await h.request("GET", "/metrics", key: nil).text
        #expect(metrics.contains("switchyard_store_up 0"))
        #expect(metrics.contains(#"switchyard_store_errors_total{kind="disk_full"}"#))
        let chat = try await h.chat(#"{"model":"smart","messages":[{"role":"user","content":"still here?"}]}"#)
        #expect(chat.head.status == 200)
        try await h.waitForLog("task store write failed")

        try store.writer.withLock { try $0.execute("PRAGMA max_page_count = 1000000") }
        let after = try await h.request("POST", "/v1/tasks", body: taskBody([stepJSON("a", big)]))
        #expect(after.head.status == 202)
        #expect(try await h.request("GET", "/readyz", key: nil).json?["store"]?["ok"] == true)
        #expect(try await h.request("GET", "/metrics", key: nil).text.contains("switchyard_store_up 1"))
    }
}
