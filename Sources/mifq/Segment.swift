import ArgumentParser
import Foundation
import Phenotyping
import Segmentation
import SlideIO

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment nuclei (or whole cells) and write a uint32 label TIFF of the image's size.",
        discussion: "With a panel that requests a coarser pixel size (requestedPixelSizeMicrons), nuclei are found at it, as quantify finds them, and each label pixel covers its block of the image's pixels.")

    @Argument(help: "A fluorescence image or slide (any TIFF mifq reads).")
    var image: String

    @Option(help: "Where to write the label image (.tif).")
    var out: String

    @Option(help: "Nuclear channel: a name (DAPI) or a 0-based index. Default: the channel named DAPI, else 0.")
    var channel: String?

    @Option(help: "Pixel size in µm, overriding the file's (required when the file has none).")
    var pixelSize: Double?

    @Option(help: "Panel whose nucleus settings to use (default: the built-in defaults).")
    var panel: String?

    @Flag(help: "Write whole cells (nuclei grown by the cell expansion) instead of nuclei.")
    var cells = false

    @Option(help: "Tile edge in pixels (results do not depend on it).")
    var tile = 1024

    @OptionGroup var common: RunOptions

    func validate() throws { try Check.tile(tile); try Check.pixelSize(pixelSize) }

    func run() throws {
        do {
            try AtomicFile.refuseInput(out, inputs: [image] + (panel.map { [$0] } ?? []))
            let p = try panel.map(Panel.load)
            let parameters = p?.nucleus.parameters ?? NucleusParameters()
            let slide = try parameters.analysisSlide(Slide(path: image, pixelSizeUm: pixelSize))
            let px = try slide.requirePixelSize()
            let ch = try resolveChannel(channel, in: slide, default: p?.nucleus.component ?? "DAPI")
            let tiled = TiledSegmentation(slide: slide, nucleusChannel: ch, parameters: parameters,
                                          pixelSizeUm: px, tileSize: tile, threads: common.workers)
            let progress = Progress(label: (image as NSString).lastPathComponent, quiet: common.quiet)
            let s = try LabelExport.write(tiled, to: out, cells: cells, binned: slide) { progress.update($0, of: $1) }
            progress.finish()
            let found = slide.binning > 1 ? ", found at \(px) µm" : ""
            if let coarse = NucleusParameters.tooCoarse(pixelSizeUm: px) { note("\(image): \(coarse)") }
            print("\(s.objects) \(cells ? "cells" : "nuclei") in \(image) → \(out) (threshold \(s.threshold), \(s.tiles) tiles\(found))")
        } catch {
            fail(error)
        }
    }
}

/// A channel given by name or 0-based index; nil picks `fallback` by name, else channel 0.
func resolveChannel(_ spec: String?, in slide: Slide, default fallback: String) throws -> Int {
    guard let spec else { return slide.channelIndex(named: fallback) ?? 0 }
    if let i = slide.channelIndex(named: spec) { return i }
    if let i = Int(spec), i >= 0, i < slide.channels.count { return i }
    let names = slide.channels.map(\.name).joined(separator: ", ")
    throw ValidationError("\(slide.path): no channel '\(spec)' (channels: \(names))")
}
