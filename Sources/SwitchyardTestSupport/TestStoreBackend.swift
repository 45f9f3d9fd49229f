#if canImport(Glibc)
import Glibc
#endif

/// The store backend the suites' shared helpers give a test that does not pick one itself:
/// `$SWITCHYARD_TEST_STORE`, `sqlite` (the default: a fresh file under /tmp) or `postgres` (a
/// fresh schema on the suite's PostgreSQL server, `PostgresTestServer`, dropped afterwards).
/// `scripts/test` runs the Swift suites once with each. Tests about SQLite itself (its file, its
/// pragmas, its own API) stay on SQLite whatever the variable says.
public enum TestStoreBackend: String, Sendable {
    case sqlite, postgres

    /// The backend `$SWITCHYARD_TEST_STORE` names; any other value stops the run (a typo must
    /// not quietly test SQLite twice).
    public static let selected: TestStoreBackend = {
        guard let value = getenv("SWITCHYARD_TEST_STORE"), value.pointee != 0 else { return .sqlite }
        let text = String(cString: value)
        guard let backend = TestStoreBackend(rawValue: text) else {
            fatalError("SWITCHYARD_TEST_STORE is \"\(text)\"; it must be sqlite or postgres")
        }
        return backend
    }()

    /// Notes that test `test` opened a store on this backend: one line `<backend>\t<test>` appended
    /// to `$SWITCHYARD_TEST_STORE_LOG` when it is set, so `scripts/test` can count the tests that
    /// ran on each backend (a test that opens several stores is still one test).
    public func record(test: String) {
        guard let value = getenv("SWITCHYARD_TEST_STORE_LOG"), value.pointee != 0 else { return }
        let fd = open(value, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        // One write of a short line with O_APPEND: lines of tests running at once never interleave.
        let line = Array("\(rawValue)\t\(test)\n".utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
