// swift-tools-version:5.10
import PackageDescription

// Release builds on x86-64 are compiled for AVX2 (x86-64-v3: Intel Haswell, AMD Zen and
// later), so the pixel loops vectorise 8 floats wide instead of SSE2's 4: the peer's 8192²
// slide at one thread 6.2–6.4 → 5.6–5.8 s, every table and picture the same bytes (Swift does
// not fuse multiplies and adds, so the arithmetic is the same). CPUCheck stops such a build
// with one line on an older CPU; `MIFQ_PORTABLE=1 swift build -c release` builds for any x86-64.
// (SlideIO, a library product of its own, is left portable: a target with unsafe flags cannot be
// used by another package.)
#if arch(x86_64)
let forAVX2 = Context.environment["MIFQ_PORTABLE"] == nil
#else
let forAVX2 = false
#endif
let vector: [SwiftSetting] = forAVX2 ? [.unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release))] : []

let package = Package(
    name: "mifq",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mifq", targets: ["mifq"]),
        .library(name: "SlideIO", targets: ["SlideIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4",
                       providers: [.apt(["libtiff-dev"]), .brew(["libtiff"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMalloc"),
        // SlideIO is also a library product: without unsafe flags, so other packages can depend on it.
        .target(name: "SlideIO", dependencies: ["CTIFF", "CZlib"], exclude: ["README.md"]),
        .target(name: "Imaging", exclude: ["README.md"], swiftSettings: vector),
        .target(name: "Segmentation", dependencies: ["Imaging", "SlideIO"], exclude: ["README.md"], swiftSettings: vector),
        .target(name: "Unmixing", dependencies: ["CBLAS", "SlideIO"], exclude: ["README.md"], swiftSettings: vector),
        .target(name: "Phenotyping", dependencies: ["Unmixing", "Segmentation", "Imaging", "SlideIO"], exclude: ["README.md"], swiftSettings: vector),
        .target(name: "Simulation", dependencies: ["Phenotyping", "Unmixing", "SlideIO", "Imaging"], exclude: ["README.md"], swiftSettings: vector),
        .target(name: "Tissue", dependencies: ["Imaging", "SlideIO"], exclude: ["README.md"], swiftSettings: vector),
        .target(name: "Cohort", dependencies: ["SlideIO"], exclude: ["README.md"], swiftSettings: vector),
        .target(name: "Quantification", dependencies: ["Phenotyping", "Segmentation", "Tissue", "Unmixing", "SlideIO", "Imaging", "CZlib", "CMalloc"], exclude: ["README.md"], swiftSettings: vector),
        .target(name: "CPUCheck", cSettings: forAVX2 ? [.define("MIFQ_NEEDS_X86_64_V3", .when(configuration: .release))] : []),
        .executableTarget(name: "mifq", dependencies: [
            "CMalloc", "CPUCheck", "SlideIO", "Imaging", "Segmentation", "Unmixing", "Phenotyping", "Simulation", "Quantification", "Cohort",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: vector),
        .executableTarget(name: "mifq-bench", dependencies: ["CPUCheck", "SlideIO", "CTIFF", "Unmixing", "Phenotyping", "Segmentation"],
                          path: "Benchmarks/mifq-bench", swiftSettings: vector),
        .testTarget(name: "SlideIOTests", dependencies: ["SlideIO"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "UnmixingTests", dependencies: ["Unmixing", "CBLAS", "Phenotyping", "SlideIO", "Simulation"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Phenotyping", "SlideIO"]),
        .testTarget(name: "QuantificationTests", dependencies: ["Quantification", "Simulation", "Phenotyping", "SlideIO", "Unmixing", "Segmentation", "Imaging", "Tissue", "CZlib"]),
        .testTarget(name: "CohortTests", dependencies: ["Cohort", "SlideIO"]),
        .testTarget(name: "TissueTests", dependencies: ["Tissue", "Imaging"]),
        .testTarget(name: "SegmentationTests", dependencies: ["Segmentation", "Imaging", "SlideIO"]),
    ]
)
