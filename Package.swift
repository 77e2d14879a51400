// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "myconn",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "myconn", targets: ["myconn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // `serve`: the HTTP server, the exposition format, SIGTERM and graceful shutdown.
        // Hummingbird's default traits (swift-configuration, full Foundation) are not used.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // libmariadb (MariaDB Connector/C) through pkg-config: module map only.
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"])]
        ),
        // The kernel's vocabulary shared by every layer: addresses, TCP states, socket entries,
        // tcp_info, fd targets, socket owners. No dependencies.
        .target(name: "SocketModel"),
        // Pure parsers of /proc text plus one reader rooted at a path.
        .target(
            name: "ProcFS",
            dependencies: ["SocketModel", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // C only for what Swift cannot call or see (hidden structs, variadic calls).
        .target(name: "CShims"),
        // sock_diag codec (requests and replies as bytes, pure) and its client over a transport.
        .target(name: "SockDiag", dependencies: ["SocketModel", .product(name: "SystemPackage", package: "swift-system")]),
        // Thin typed wrappers over socket syscalls; no policy.
        // libnftables (Debian libnftables-dev) through pkg-config: module map only.
        .systemLibrary(
            name: "CNftables",
            pkgConfig: "libnftables",
            providers: [.apt(["libnftables-dev"])]
        ),
        // libnetfilter_queue (Debian libnetfilter-queue-dev): NFQUEUE for `fault --delay`.
        .systemLibrary(
            name: "CNetfilterQueue",
            pkgConfig: "libnetfilter_queue",
            providers: [.apt(["libnetfilter-queue-dev"])]
        ),
        .target(
            name: "LinuxKernel",
            dependencies: ["CShims", "CNftables", "CNetfilterQueue", "SocketModel", "SockDiag", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // The ptrace state machine: stop one thread, inject syscalls, restore, release.
        .target(
            name: "SyscallInjector",
            dependencies: ["CShims", "LinuxKernel", "ProcFS", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // libmariadb wrapper: connect with mysql-client options, processlist, server facts.
        .target(
            name: "MySQLSessions",
            dependencies: ["CMariaDB"]
        ),
        // The join session <-> socket <-> fd, mysqld discovery, reasons.
        .target(
            name: "MyConnCore",
            dependencies: ["SocketModel", "ProcFS", "LinuxKernel", "SockDiag", "SyscallInjector", "MySQLSessions", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // ncursesw (Debian libncurses-dev) through pkg-config: module map only.
        .systemLibrary(
            name: "CNcurses",
            pkgConfig: "ncursesw",
            providers: [.apt(["libncurses-dev"])]
        ),
        // `myconn top`: the model of the table (pure), its text, the screen (ncurses) and the
        // loop of keys; every action through the core's pipeline.
        .target(
            name: "MyConnTop",
            dependencies: ["MyConnCore", "CNcurses", "LinuxKernel", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // `myconn serve`: the HTTP API and /metrics over the core's snapshots and pipeline.
        .target(
            name: "MyConnServe",
            dependencies: [
                "MyConnCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "myconn",
            dependencies: [
                "MyConnCore", "MyConnTop", "MyConnServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The toolchain's static-stdlib link exports every symbol of ours (-export-dynamic):
            // 23,819 dynamic symbols, which the runtime's start-up dladdr walks and the loader
            // hashes, 2 ms of each run (measured: `myconn --version` 8.4 -> 6.5 ms, hyperfine).
            // Nothing loads myconn as a library or looks its symbols up.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"])]
        ),
        // Holds client sessions open for the demo, the benchmark and the integration tests.
        .executableTarget(
            name: "myconn-demo-clients",
            dependencies: [
                "MySQLSessions", "LinuxKernel", "SocketModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test support: a victim with threads blocked in poll, read, accept, nanosleep,
        // epoll_wait and a futex; and a loop that injects getpid into its threads.
        // The parsers and writers under libFuzzer (scripts/fuzz.sh builds it with
        // -sanitize=fuzzer,address -DFUZZING); in an ordinary build, a replayer of the corpora
        // and kept findings (Tests/Fuzz), run by the tests.
        // libFuzzer's driver, declared only (header-only module): linked by -sanitize=fuzzer.
        .systemLibrary(name: "CLibFuzzer"),
        // The fuzz targets (scripts/fuzz.sh); without -DFUZZING a replayer of kept inputs.
        .executableTarget(name: "myconn-fuzz", dependencies: ["CLibFuzzer", "MyConnCore", "ProcFS", "SockDiag"]),
        .executableTarget(name: "myconn-test-victim"),
        .executableTarget(name: "myconn-test-injector", dependencies: ["SyscallInjector", "ProcFS"]),
        .testTarget(name: "ProcFSTests", dependencies: ["ProcFS", "SocketModel"], exclude: ["Fixtures"]),
        .testTarget(
            name: "SockDiagTests",
            dependencies: ["SockDiag", "SocketModel", "ProcFS", .product(name: "SystemPackage", package: "swift-system")],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "MyConnCoreTests", dependencies: ["MyConnCore", "ProcFS", "MySQLSessions", "SockDiag", "LinuxKernel"], exclude: ["Fixtures"]),
        .testTarget(name: "MyConnTopTests", dependencies: ["MyConnTop", "MyConnCore"]),
        .testTarget(name: "MyConnServeTests", dependencies: ["MyConnServe", "MyConnCore"]),
        .testTarget(name: "IntegrationTests", dependencies: ["ProcFS"]),
    ],
    swiftLanguageModes: [.v6]
)
