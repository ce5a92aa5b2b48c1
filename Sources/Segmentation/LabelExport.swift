import Foundation
import Imaging
import SlideIO

/// Writes a whole image's nuclei (or cells) as a uint32 label TIFF, streaming tile by tile.
/// Labels are numbered 1…n in tile order, then by centroid (rows, then columns) within a tile.
/// Segmented on a binned slide (`Slide.binned`), each label pixel covers its n × n pixels of the
/// file, so the labels lie over the file's image.
public enum LabelExport {
    public struct Summary: Sendable {
        public var objects: Int
        public var threshold: Float
        public var tiles: Int
    }

    /// `binned`: the binned slide `tiled` segments, whose file the labels are written over.
    public static func write(_ tiled: TiledSegmentation, to path: String, cells: Bool, binned: Slide? = nil,
                             progress: ((Int, Int) -> Void)? = nil) throws -> Summary {
        let threshold = try tiled.estimateThreshold()
        let f = binned?.binning ?? 1
        let out = (width: binned?.fileWidth ?? tiled.width, height: binned?.fileHeight ?? tiled.height)
        let spec = ImageSpec(width: out.width, height: out.height, channelNames: [cells ? "cells" : "nuclei"],
                             sampleType: .uint32, pixelSizeUm: binned?.filePixelSizeUm ?? tiled.segmenter.pixelSizeUm,
                             tileSize: 512, levels: 1)
        let writer = try OMETIFFWriter(path: path, spec: spec)
        var next: UInt32 = 0
        var done = 0
        let expansion = cells ? tiled.segmenter.parameters.cellExpansionMicrons / tiled.segmenter.pixelSizeUm : 0
        // Each worker numbers its tile's objects and cuts them out; the in-order consumer only
        // adds the objects before the tile and lays them over the file.
        try tiled.run(threshold: threshold, cellExpansionPx: expansion, map: { OwnedLabels($0, cells: cells) }) { tile in
            if let box = tile.box {
                if f == 1 {
                    try tile.ids.withUnsafeBufferPointer { try writer.overlay(channel: 0, region: box, labels: $0, offset: next) }
                } else {
                    // Each label pixel over its f × f file pixels, 256 label rows at a time.
                    let width = min(box.width * f, out.width - box.x * f)
                    for b0 in stride(from: 0, to: box.height, by: 256) {
                        let y0 = (box.y + b0) * f
                        let band = PixelRegion(x: box.x * f, y: y0, width: width, height: min(min(b0 + 256, box.height) * f, out.height - box.y * f) - b0 * f)
                        let ids = (0..<band.count).map { i in tile.ids[(b0 + i / width / f) * box.width + (i % width) / f] }
                        try ids.withUnsafeBufferPointer { try writer.overlay(channel: 0, region: band, labels: $0, offset: next) }
                    }
                }
            }
            next += UInt32(tile.count)
            done += 1
            progress?(done, tiled.tileCount)
        }
        try writer.finish(threads: tiled.threads)
        return Summary(objects: Int(next), threshold: threshold, tiles: tiled.tileCount)
    }
}

/// A tile's own objects (those whose centroid its core holds), numbered 1…n in `owned` order
/// (centroid raster order) over the smallest box that holds them, 0 elsewhere: the other
/// objects of the tile's halo belong to its neighbours.
struct OwnedLabels: Sendable {
    let count: Int
    /// The box in the tile's (analysis) pixels; nil without objects.
    let box: PixelRegion?
    /// `box.count` labels, row by row.
    let ids: [UInt32]

    init(_ tile: TileSegmentation, cells: Bool) {
        let lab = cells ? tile.cells : tile.nuclei
        var local = [UInt32](repeating: 0, count: Int(lab.maxLabel) + 1)
        for (k, l) in tile.owned.enumerated() { local[Int(l)] = UInt32(k + 1) }
        count = tile.owned.count
        let r = tile.region, w = r.width
        var x0 = w, x1 = -1, y0 = r.height, y1 = -1
        lab.labels.withUnsafeBufferPointer { p in
            for y in 0..<r.height {
                let row = p.baseAddress! + y * w
                guard let first = (0..<w).first(where: { local[Int(row[$0])] != 0 }) else { continue }
                let last = (first..<w).last { local[Int(row[$0])] != 0 }!
                x0 = min(x0, first); x1 = max(x1, last)
                if y0 > y { y0 = y }
                y1 = y
            }
        }
        guard x1 >= 0 else { box = nil; ids = []; return }
        let b = PixelRegion(x: r.x + x0, y: r.y + y0, width: x1 - x0 + 1, height: y1 - y0 + 1)
        box = b
        ids = lab.labels.withUnsafeBufferPointer { p in
            (0..<b.count).map { i in local[Int(p[(y0 + i / b.width) * w + x0 + i % b.width])] }
        }
    }
}
