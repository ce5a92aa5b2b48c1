import ArgumentParser
import Foundation
import Phenotyping
import Simulation
import SlideIO

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic cohort: slides with ground truth, and clinical.csv.",
        discussion: """
        Layout: DIR/slides/<patient>_S<k>.ome.tif (or .qptiff), DIR/truth/<slide>.{cells.csv,nuclei.tif,regions.tif,json}, \
        DIR/clinical.csv, and with --single-stain DIR/single-stain/slides/<fluor>.ome.tif plus unstained.ome.tif.
        """)

    @Option(help: "Output directory.")
    var out: String

    @Option(help: "Number of patients.")
    var patients = 20

    @Option(help: "Slides per patient.")
    var slidesPerPatient = 1

    @Option(help: "Slide size in pixels, WxH.")
    var size = "1024x1024"

    @Option(help: "Pixel size in µm.")
    var pixelSize = 0.5

    @Option(help: "Random seed (same seed, same bytes).")
    var seed: UInt64 = 1

    @Option(help: "Panel file giving channels, library and markers (default: the study's panels/escc-opal7.json, looked for in the working folder, then beside the mifq executable and the folders above it).")
    var panel: String?

    @Option(help: "Container: ome, qptiff or both.")
    var format = "ome"

    @Flag(help: "Also write single-stain control slides and an unstained slide.")
    var singleStain = false

    @Flag(help: "Skip the truth label and region masks (large slides for benchmarks).")
    var noMasks = false

    @Flag(help: "Write pixel tiles uncompressed, in place, by direct I/O (~7× faster to write, ~2.5× larger files).")
    var uncompressed = false

    @Option(help: "Tissue autofluorescence drifting across each slide, left to right, from 1 − d to 1 + d times its level (0–0.9).")
    var autofluorescenceDrift = 0.0

    @OptionGroup var common: RunOptions

    static let studyPanelPath = "panels/escc-opal7.json"

    /// The study panel's path: in the working folder, else beside the executable or in one of
    /// the folders above it (`.build/release/mifq` finds the repository's copy from anywhere).
    static func studyPanel() throws -> String {
        let fm = FileManager.default
        if fm.fileExists(atPath: studyPanelPath) { return studyPanelPath }
        let exe = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = exe.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent(studyPanelPath).path
            if fm.fileExists(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        throw PanelError.invalid(path: studyPanelPath, "cannot be found in the working folder or beside mifq; give one with --panel")
    }

    func validate() throws {
        try Check.range(patients, 1...100_000, "--patients")
        try Check.range(slidesPerPatient, 1...1000, "--slides-per-patient")
        guard (0...0.9).contains(autofluorescenceDrift) else {
            throw ValidationError("--autofluorescence-drift must be from 0 to 0.9 (got \(autofluorescenceDrift))")
        }
        guard Slide.plausiblePixelSizes.contains(pixelSize) else {
            throw ValidationError("--pixel-size must be between \(Slide.plausiblePixelSizes.lowerBound) and \(Slide.plausiblePixelSizes.upperBound) µm (got \(pixelSize))")
        }
    }

    func run() throws {
        do {
            let p = try Panel.load(panel ?? Simulate.studyPanel())
            let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (64...131_072).contains($0) }) else {
                throw ValidationError("--size must be WxH with both from 64 to 131072, e.g. 2048x2048")
            }
            var sim = CohortSimulator(panel: p)
            sim.patients = patients; sim.slidesPerPatient = slidesPerPatient
            sim.width = parts[0]; sim.height = parts[1]; sim.pixelSizeUm = pixelSize; sim.seed = seed
            sim.threads = common.workers; sim.writeMasks = !noMasks; sim.deflate = !uncompressed
            sim.autofluorescenceDrift = autofluorescenceDrift
            switch format {
            case "ome": sim.flavours = [.ome]
            case "qptiff": sim.flavours = [.qptiff]
            case "both": sim.flavours = [.ome, .qptiff]
            default: throw ValidationError("--format must be ome, qptiff or both")
            }
            let dir = URL(fileURLWithPath: out)
            let bar = Progress(label: "simulate", quiet: common.quiet)
            try sim.write(to: dir) { bar.update($0, of: $1, unit: "slides") }
            if singleStain { try sim.writeSingleStain(to: dir) }
            bar.finish()
            print("\(patients) patients, \(patients * slidesPerPatient) slides → \(dir.appendingPathComponent("slides").path); clinical.csv and truth/ beside it")
        } catch {
            fail(error)
        }
    }
}
