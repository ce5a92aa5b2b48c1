import ArgumentParser
import Foundation
import SlideIO

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a slide: format, size, channels, pixel size, tiles, pyramid.")

    @Argument(help: "A TIFF, BigTIFF, OME-TIFF or QPTIFF slide.")
    var slide: String

    @Flag(help: "Print JSON instead of text (layout in the README).")
    var json = false

    @Flag(help: "Add per-channel min, max, mean and sum at level 0 (exact sums for integer samples).")
    var stats = false

    @Option(help: "Pixel size in µm, overriding the file's.")
    var pixelSize: Double?

    func validate() throws { try Check.pixelSize(pixelSize) }

    func run() throws {
        do {
            let s = try Slide(path: slide, pixelSizeUm: pixelSize)
            let st = stats ? try ChannelStatistics.compute(s) : nil
            let summary = SlideSummary(s, statistics: st)
            print(json ? try summary.json() : summary.text(), terminator: json ? "\n" : "")
        } catch {
            fail(error)
        }
    }
}
