import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

@testable import SwitchyardStore

/// Real `switchyard serve` processes on one PostgreSQL database (a scratch schema of the suite's
/// server), as the pods of one deployment: one configuration, two client keys (`tests`, `other`),
/// one OpenAI mock upstream. `stop()` kills what is left and drops the schema.
final class Replicas: Sendable {
    let url: StoreURL
    private let server: StoreURL
    private let schema: String
    private let config: String
    private let client: CurlUpstream
    /// A connection of the test's own, to read the claims.
    private let observer: PostgresStore
    let processes: [(process: SwitchyardProcess, base: String)]

    /// Starts `count` processes (`arguments` after `serve --config FILE`), each read back listening.
    /// `store` is the YAML of the `store` map; `TEST_DATABASE_URL` holds the scratch schema's URL.
    /// The lease (2 s) is what a take-over waits for. A live holder keeps it on a loaded machine:
    /// its keeper renews every third of it on a thread and a connection of its own, which a busy
    /// cooperative pool no longer delays (that delay, up to 4.8 s, once cost a task its live holder).
    init(
        count: Int, upstreamPort: Int, store: String = "{url_env: TEST_DATABASE_URL, lease_ms: 2000}",
        extraYAML: String = "", arguments: [String] = []
    ) async throws {
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        let server = try PostgresTestServer.storeURL()
        self.server = server
        schema = "r_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        url = try await PostgresStore.createScratchSchema(url: server, name: schema)
        config = temporaryStorePath("replicas").replacingOccurrences(of: ".db", with: ".yaml")
        client = try CurlUpstream()
        observer = try await PostgresStore(url: url, configuration: .init(poolSize: 1, listen: false))
        try """
        \(smartModelYAML(mockPort: upstreamPort, otherKey: true))
        store: \(store)
        tasks: {workers: 2}
        shutdown_grace_ms: 2000
        \(extraYAML)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = [
            "TEST_CLIENT_KEY": TestSecrets.client, "TEST_OTHER_KEY": OtherKey.secret,
            "TEST_PROVIDER_KEY": TestSecrets.provider, "TEST_DATABASE_URL": url.value,
        ]
        var started: [(process: SwitchyardProcess, base: String)] = []
        for _ in 0..<count {
            let process = try SwitchyardProcess(
                path: binary, arguments: ["serve", "--config", config] + arguments, environment: environment)
            started.append((process, ""))
            let port = try await within(60, "replica \(started.count - 1) to listen") { try await process.port() }
            started[started.count - 1].base = "http://127.0.0.1:\(port)"
        }
        processes = started
    }

    subscript(index: Int) -> (process: SwitchyardProcess, base: String) { processes[index] }

    /// `method path` on process `index` with the client key `key` (JSON body).
    func call(
        _ index: Int, _ method: String, _ path: String, _ body: String = "", key: String = TestSecrets.client,
        headers: [HeaderField] = []
    ) async throws -> UpstreamResponse {
        try await client.perform(
            UpstreamRequest(
                method: method, url: processes[index].base + path,
                headers: [
                    HeaderField("Authorization", "Bearer \(key)"), HeaderField("Content-Type", "application/json"),
                ] + headers,
                body: Array(body.utf8), timeout: .seconds(30)))
    }

    /// Polls `GET /v1/tasks/{id}` on process `index` (every 20 ms, at most 60 s) until `done` holds.
    func poll(
        _ index: Int, task id: String, _ what: String, until done: @escaping @Sendable (JSON) -> Bool
    )
        async throws -> JSON
    {
        let base = processes[index].base
        let client = client
        return try await within(60, what) {
            while true {
                let response = try? await client.perform(
                    UpstreamRequest(
                        method: "GET", url: "\(base)/v1/tasks/\(id)",
                        headers: [HeaderField("Authorization", "Bearer \(TestSecrets.client)")], body: [],
                        timeout: .seconds(10)))
                if let json = response?.json, done(json) { return json }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// The index of the process whose pid is in the task's claim (`lease_owner`, `host/pid/suffix`),
    /// or nil when no live one of them holds it.
    func holder(of id: String) async throws -> Int? {
        let owner = try await observer.perform { connection throws(StoreError) in
            try connection.queryOne("SELECT lease_owner FROM tasks WHERE id = $1", [.text(id)]) { $0.optionalText(0) }
        }
        guard let pid = (owner ?? nil)?.split(separator: "/").dropFirst().first.flatMap({ Int32($0) }) else {
            return nil
        }
        return processes.firstIndex { $0.process.pid == pid }
    }

    /// No process printed a configured secret.
    func expectNoSecretsLogged() {
        for p in processes {
            for secret in [TestSecrets.client, TestSecrets.provider, OtherKey.secret, url.value] {
                #expect(!p.process.stderr.contains(secret))
            }
        }
    }

    func stop() {
        for p in processes { p.process.kill() }
        observer.close()
        client.shutdown()
        unlink(config)
        // Dropped here, not by a task left behind: the test process may exit while that task's
        // connection is being opened, and libpq's libraries (Kerberos, OpenSSL) then abort in their
        // exit-time clean-up (seen after "Test run ... passed": exit status 134 or 139).
        try? PostgresStore.dropScratchSchemaNow(url: server, name: schema)
    }
}
