// swift-tools-version:5.10
import PackageDescription

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
        .target(name: "SlideIO", dependencies: ["CTIFF", "CZlib"], exclude: ["README.md"]),
        .target(name: "Imaging", exclude: ["README.md"]),
        .target(name: "Segmentation", dependencies: ["Imaging", "SlideIO"], exclude: ["README.md"]),
        .target(name: "Unmixing", dependencies: ["CBLAS", "SlideIO"], exclude: ["README.md"]),
        .target(name: "Phenotyping", dependencies: ["Unmixing", "Segmentation", "Imaging", "SlideIO"], exclude: ["README.md"]),
        .target(name: "Simulation", dependencies: ["Phenotyping", "Unmixing", "SlideIO", "Imaging"], exclude: ["README.md"]),
        .target(name: "Tissue", dependencies: ["Imaging"], exclude: ["README.md"]),
        .target(name: "Cohort", dependencies: ["SlideIO"], exclude: ["README.md"]),
        .target(name: "Quantification", dependencies: ["Phenotyping", "Segmentation", "Tissue", "Unmixing", "SlideIO", "Imaging", "CZlib", "CMalloc"], exclude: ["README.md"]),
        .executableTarget(name: "mifq", dependencies: [
            "CMalloc", "SlideIO", "Imaging", "Segmentation", "Unmixing", "Phenotyping", "Simulation", "Quantification", "Cohort",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "mifq-bench", dependencies: ["SlideIO", "CTIFF", "Unmixing", "Phenotyping", "Segmentation"],
                          path: "Benchmarks/mifq-bench"),
        .testTarget(name: "SlideIOTests", dependencies: ["SlideIO"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "UnmixingTests", dependencies: ["Unmixing", "Phenotyping", "SlideIO", "Simulation"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Phenotyping", "SlideIO"]),
        .testTarget(name: "QuantificationTests", dependencies: ["Quantification", "Simulation", "Phenotyping", "SlideIO", "Unmixing", "Segmentation", "Imaging", "Tissue"]),
        .testTarget(name: "CohortTests", dependencies: ["Cohort"]),
        .testTarget(name: "TissueTests", dependencies: ["Tissue", "Imaging"]),
        .testTarget(name: "SegmentationTests", dependencies: ["Segmentation", "Imaging", "SlideIO"]),
    ]
)
