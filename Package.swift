// swift-tools-version:5.9
// Tagline: an IPsec gateway that carries TrustSec SGTs inline in ESP.
// Everything here comes from the Swift toolchain and Debian's -dev packages
// (libzmq3-dev, libssl-dev, libsqlite3-dev), reached through .systemLibrary.
import PackageDescription

let package = Package(
    name: "Tagline",
    products: [
        .executable(name: "ike-negotiator", targets: ["ike-negotiator"]),
        .executable(name: "sa-manager", targets: ["sa-manager"]),
        .executable(name: "dataplane-tagger", targets: ["dataplane-tagger"]),
        .executable(name: "cts-binding-store", targets: ["cts-binding-store"]),
        .executable(name: "tagline", targets: ["tagline"]),
        .executable(name: "tagline-bench", targets: ["tagline-bench"]),
    ],
    targets: [
        // C libraries from Debian packages.
        .systemLibrary(name: "CZeroMQ", path: "Shared/CZeroMQ", pkgConfig: "libzmq",
                       providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Shared/COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Shared/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CTaglineShim", path: "Shared/CTaglineShim"),

        // Shared libraries.
        .target(name: "TaglineCore", path: "Shared/TaglineCore"),
        .target(name: "TaglineCrypto", dependencies: ["COpenSSL", "TaglineCore"],
                path: "Shared/TaglineCrypto"),
        .target(name: "TaglineConfig", dependencies: ["TaglineCore"],
                path: "Shared/TaglineConfig"),
        .target(name: "TaglineBus", dependencies: ["CZeroMQ", "TaglineCore"],
                path: "Shared/TaglineBus", exclude: ["API.md"]),
        .target(name: "TaglineStore", dependencies: ["CSQLite", "TaglineCore"],
                path: "Shared/TaglineStore"),
        .target(name: "TaglineIKE", dependencies: ["TaglineCore", "TaglineCrypto", "TaglineConfig"],
                path: "Shared/TaglineIKE"),
        .target(name: "TaglineDataplane",
                dependencies: ["TaglineCore", "TaglineCrypto", "CTaglineShim", "COpenSSL"],
                path: "Shared/TaglineDataplane"),
        .target(name: "TaglineSXP", dependencies: ["TaglineCore", "CTaglineShim"],
                path: "Shared/TaglineSXP"),

        // Services.
        .executableTarget(name: "ike-negotiator",
                          dependencies: ["TaglineCore", "TaglineConfig", "TaglineBus",
                                         "TaglineIKE", "TaglineStore", "CTaglineShim"],
                          path: "Services/ike-negotiator"),
        .executableTarget(name: "sa-manager",
                          dependencies: ["TaglineCore", "TaglineConfig", "TaglineBus",
                                         "TaglineStore"],
                          path: "Services/sa-manager"),
        .executableTarget(name: "dataplane-tagger",
                          dependencies: ["TaglineCore", "TaglineConfig", "TaglineBus",
                                         "TaglineDataplane", "CTaglineShim"],
                          path: "Services/dataplane-tagger"),
        .executableTarget(name: "cts-binding-store",
                          dependencies: ["TaglineCore", "TaglineConfig", "TaglineBus",
                                         "TaglineStore", "TaglineSXP"],
                          path: "Services/cts-binding-store"),
        .executableTarget(name: "tagline",
                          dependencies: ["TaglineCore", "TaglineConfig", "TaglineBus"],
                          path: "Services/tagline"),

        // Benchmarks that drive running services over the bus, and the packet path on memory.
        .executableTarget(name: "tagline-bench",
                          dependencies: ["TaglineCore", "TaglineBus", "TaglineDataplane",
                                         "TaglineCrypto", "COpenSSL", "TaglineSXP"],
                          path: "Bench/tagline-bench"),

        // Tests.
        .testTarget(name: "TaglineCoreTests", dependencies: ["TaglineCore"],
                    path: "Tests/TaglineCoreTests"),
        .testTarget(name: "TaglineCryptoTests", dependencies: ["TaglineCrypto"],
                    path: "Tests/TaglineCryptoTests", resources: [.copy("Vectors")]),
        .testTarget(name: "TaglineConfigTests", dependencies: ["TaglineConfig"],
                    path: "Tests/TaglineConfigTests", resources: [.copy("Fixtures")]),
        .testTarget(name: "TaglineBusTests", dependencies: ["TaglineBus"],
                    path: "Tests/TaglineBusTests"),
        .testTarget(name: "TaglineStoreTests", dependencies: ["TaglineStore"],
                    path: "Tests/TaglineStoreTests"),
        .testTarget(name: "TaglineIKETests", dependencies: ["TaglineIKE"],
                    path: "Tests/TaglineIKETests"),
        .testTarget(name: "TaglineDataplaneTests", dependencies: ["TaglineDataplane"],
                    path: "Tests/TaglineDataplaneTests"),
        .testTarget(name: "TaglineSXPTests", dependencies: ["TaglineSXP"],
                    path: "Tests/TaglineSXPTests"),
    ],
    swiftLanguageVersions: [.v5]
)
