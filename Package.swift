// swift-tools-version:6.1
import PackageDescription

// The target graph is the architecture diagram (docs/architecture.md, checked by scripts/check-docs):
// C shims at the bottom, a pure core in the middle, I/O adapters around it,
// the gateway composing them and a thin executable on top.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    crossModuleOptimization,
]

// A request crosses eight of our modules; by default the optimiser sees only the small public
// functions of another module, so a JSON accessor or a generic router step called from the next
// module stays an opaque call. This flag lets it inline and specialise them across modules. Release
// builds only (scripts/run, bench/run, the Dockerfile); the debug and test build is unchanged.
// Interleaved against the build without it (8 pairs, load 8-14): `switchyard-bench codec` 6.70 ->
// 6.31 us (OpenAI passthrough), 8.39 -> 7.87 us (Anthropic); `switchyard-bench gateway` 12.8 ->
// 12.2 us. Tried and left out: `-Osize` (codec 7.68 us, gateway 14.2 us; no better at c=1),
// `--experimental-lto-mode=full` (codec 6.50 us; a link of several minutes), `-package-cmo` (needs
// library evolution) and `-enable-cmo-everything` (crashes swift-frontend 6.3.1: "Found ownership error").
var crossModuleOptimization: SwiftSetting {
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))
}

// Linux only: the edge and the event loops are epoll's, and every file imports Glibc directly
// (Debian 12 is the target; a macOS build could not link the edge anyway).
let package = Package(
    name: "switchyard",
    products: [
        .executable(name: "switchyard", targets: ["switchyard"]),
        .executable(name: "switchyard-mock", targets: ["switchyard-mock"]),
        .executable(name: "switchyard-bench", targets: ["switchyard-bench"]),
        .executable(name: "switchyard-fuzz", targets: ["switchyard-fuzz"]),
    ],
    // Exact versions, the ones that resolve in this environment: Package.resolved is not committed
    // (the environment's package copies carry their own commit ids), so the pins live here, where
    // every clone and the image build read them. Transitive packages (swift-metrics, swift-atomics,
    // swift-collections, swift-numerics, swift-async-algorithms) follow from these exact versions'
    // own manifests; naming them here too would only add "not used by any target" warnings.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
    ],
    targets: [
        // C libraries through pkg-config; shim.h holds typed wrappers for variadics and macros.
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libyaml's event parser, for the configuration (not Yams: it links all of Foundation, ICU's
        // data included, which cost the shipped binary 50 MB of size and 6 MB of idle RSS).
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // epoll and eventfd (Linux), which the Glibc module does not import.
        .systemLibrary(name: "CEventLoop"),

        // Pure core: JSON value, unified chat types, config model, errors. No C, no I/O.
        .target(name: "SwitchyardCore", swiftSettings: strict),
        // Provider endpoints and codecs (pure), SSE parser.
        .target(name: "SwitchyardProviders", dependencies: ["SwitchyardCore"], swiftSettings: strict),
        // Inbound APIs (pure): parse a client's body into the unified request, write answers,
        // streams and errors in its shape; stored-conversation records and their store protocol.
        .target(name: "SwitchyardInbound", dependencies: ["SwitchyardCore"], swiftSettings: strict),
        // Target plan, retry/backoff, breaker (pure) and the driver over the Upstream protocol.
        .target(
            name: "SwitchyardRouting",
            dependencies: ["SwitchyardCore", "SwitchyardProviders", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Plain system threads (OSThread): one way to start one on a Swift closure and join it, for
        // every module that runs a blocking loop off the cooperative pool; and the Doorbell a
        // sleeping task is woken with. No dependencies.
        .target(name: "SwitchyardThreads", swiftSettings: strict),
        // Event loops: one thread per core running epoll, timers and the Swift jobs of its requests.
        .target(name: "SwitchyardLoop", dependencies: ["CEventLoop", "SwitchyardThreads"], swiftSettings: strict),
        // A fixed pool of threads for work whose cost grows with the request (a TaskExecutor).
        .target(name: "SwitchyardWorkers", dependencies: ["SwitchyardThreads"], swiftSettings: strict),
        // The only importer of CCurl.
        .target(
            name: "SwitchyardUpstream", dependencies: ["CCurl", "SwitchyardCore", "SwitchyardLoop"],
            swiftSettings: strict),
        // The task domain: TaskMachine (pure transitions), records, templates, create requests and
        // their rendering, the runtime and the service behind the API and the CLI. Reaches storage
        // only through the TaskStore protocol and models only through the StepRunner protocol.
        .target(
            name: "SwitchyardTasks",
            dependencies: ["SwitchyardCore", "SwitchyardThreads", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The only importer of CSQLite and CPostgres: the SQLite store and the PostgreSQL store
        // (connections, statements, migrations, claims), each implementing the task, idempotency and
        // response store protocols.
        .target(
            name: "SwitchyardStore",
            dependencies: [
                "CSQLite", "CPostgres", "SwitchyardCore", "SwitchyardTasks", "SwitchyardInbound", "SwitchyardThreads",
            ],
            swiftSettings: strict
        ),
        // The edge's own C: libmicrohttpd hooks it has no option for, epoll wrappers.
        .target(name: "CSwitchyardEdge", dependencies: ["CMicroHTTPD"]),
        // The only importer of CMicroHTTPD.
        .target(
            name: "SwitchyardEdge",
            dependencies: ["CMicroHTTPD", "CSwitchyardEdge", "SwitchyardLoop", "SwitchyardThreads"],
            swiftSettings: strict
        ),
        .target(
            name: "SwitchyardGateway",
            dependencies: [
                "SwitchyardCore", "SwitchyardProviders", "SwitchyardRouting", "SwitchyardUpstream",
                "SwitchyardEdge", "SwitchyardTasks", "SwitchyardStore", "SwitchyardInbound", "SwitchyardLoop",
                "SwitchyardWorkers", "SwitchyardThreads",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "CYAML",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "switchyard",
            dependencies: [
                "SwitchyardGateway", "SwitchyardCore", "SwitchyardTasks", "SwitchyardStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Mock upstreams speaking each provider's wire format, with scripted faults.
        .target(
            name: "SwitchyardTestSupport", dependencies: ["SwitchyardCore", "SwitchyardThreads"], swiftSettings: strict),
        .executableTarget(
            name: "switchyard-mock",
            dependencies: [
                "SwitchyardTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks printed by bench/run (store: checkpoint commit, listing, start-up); percentiles via HdrHistogram.
        .executableTarget(
            name: "switchyard-bench",
            dependencies: [
                "SwitchyardStore", "SwitchyardTasks", "SwitchyardCore", "SwitchyardProviders", "SwitchyardInbound",
                "SwitchyardGateway", "SwitchyardEdge", "SwitchyardUpstream", "SwitchyardLoop",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Fuzz targets (README "Fuzzing"): the invariants each input must keep, replayed by the
        // tests; the executable is libFuzzer's harness when scripts/fuzz builds it.
        .target(
            name: "SwitchyardFuzz",
            dependencies: [
                "SwitchyardCore", "SwitchyardProviders", "SwitchyardRouting", "SwitchyardEdge", "SwitchyardGateway",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "switchyard-fuzz", dependencies: ["SwitchyardFuzz"], swiftSettings: strict),

        .testTarget(
            name: "SwitchyardCoreTests", dependencies: ["SwitchyardCore", "SwitchyardTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "SwitchyardProvidersTests",
            dependencies: ["SwitchyardProviders", "SwitchyardCore", "SwitchyardTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwitchyardInboundTests",
            dependencies: ["SwitchyardInbound", "SwitchyardCore", "SwitchyardProviders"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwitchyardRoutingTests",
            dependencies: ["SwitchyardRouting", "SwitchyardCore", "SwitchyardProviders"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwitchyardUpstreamTests",
            dependencies: ["SwitchyardUpstream", "SwitchyardCore", "SwitchyardTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(name: "SwitchyardTasksTests", dependencies: ["SwitchyardTasks"], swiftSettings: strict),
        .testTarget(name: "SwitchyardWorkersTests", dependencies: ["SwitchyardWorkers"], swiftSettings: strict),
        .testTarget(name: "SwitchyardThreadsTests", dependencies: ["SwitchyardThreads"], swiftSettings: strict),
        .testTarget(
            name: "SwitchyardStoreTests",
            dependencies: [
                "SwitchyardStore", "SwitchyardTasks", "SwitchyardCore", "SwitchyardInbound", "SwitchyardTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "SwitchyardLoopTests", dependencies: ["SwitchyardLoop"], swiftSettings: strict),
        .testTarget(
            name: "SwitchyardEdgeTests", dependencies: ["SwitchyardEdge", "SwitchyardTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwitchyardFuzzTests",
            dependencies: ["SwitchyardFuzz"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwitchyardGatewayTests",
            dependencies: [
                "SwitchyardGateway", "SwitchyardCore", "SwitchyardTestSupport", "SwitchyardEdge",
                "SwitchyardUpstream", "SwitchyardTasks", "SwitchyardStore", "SwitchyardInbound", "SwitchyardLoop",
            ],
            swiftSettings: strict
        ),
    ]
)
