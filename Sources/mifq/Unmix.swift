import ArgumentParser
import Foundation
import Phenotyping
import Quantification
import SlideIO
import Unmixing

struct Unmix: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unmix a slide into a float32 component image (one channel per fluor), like inForm's component_data.tif.")

    @Argument(help: "The slide.")
    var slide: String

    @Option(help: "Panel file with the spectral library.")
    var panel: String

    @Option(help: "Output OME-TIFF.")
    var out: String

    @Option(help: "ols (pseudo-inverse, one sgemm per tile) or nnls (exact non-negative least squares).")
    var method: UnmixingMethod = .ols

    @OptionGroup var common: RunOptions

    func run() throws {
        do {
            try AtomicFile.refuseInput(out, inputs: [slide, panel])
            let p = try Panel.load(panel)
            let s = try Slide(path: slide)
            let map = try p.channelMap(for: s)
            let bar = Progress(label: (slide as NSString).lastPathComponent, quiet: common.quiet)
            try ComponentExport.write(slide: s, channelMap: map, unmixer: Unmixer(library: p.library, method: method),
                                      to: out, threads: common.workers) { bar.update($0, of: $1) }
            bar.finish()
            print("\(p.library.componentCount) components (\(method.rawValue)) → \(out)")
        } catch {
            fail(error)
        }
    }
}

extension UnmixingMethod: ExpressibleByArgument {}

struct Library: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Estimate a spectral library from single-stain control slides and an unstained slide.",
        discussion: "Name the controls after their fluor (e.g. Opal570.ome.tif) and the unstained slide unstained.*; the output's \"library\" drops into a panel file.")

    @Option(help: "Folder with one slide per fluor and an unstained slide.")
    var singleStain: String

    @Option(help: "Panel naming the channels and fluors.")
    var panel: String

    @Option(help: "Output JSON.")
    var out: String

    func run() throws {
        do {
            try AtomicFile.refuseInput(out, inputs: [panel])
            let p = try Panel.load(panel)
            let slides = try SlideInputs.find([singleStain], patientMap: nil).map(\.path)
            var est = LibraryEstimator()
            est.darkOffset = p.library.darkOffset
            let e = try est.estimate(slides: slides, fluors: p.library.components, channels: p.library.channels, folder: singleStain)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(String(decoding: try enc.encode(["library": e.library]), as: UTF8.self), to: URL(fileURLWithPath: out))
            print(String(format: "library of %d fluors × %d channels (condition number %.3g) → %@", e.library.componentCount,
                         e.library.channelCount, e.library.conditionNumber, out))
        } catch {
            fail(error)
        }
    }
}
