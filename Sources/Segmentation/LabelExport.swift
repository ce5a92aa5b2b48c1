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
        try tiled.run(threshold: threshold, cellExpansionPx: expansion) { tile in
            let lab = cells ? tile.cells : tile.nuclei
            var newID = [UInt32](repeating: 0, count: Int(lab.maxLabel) + 1)
            for l in tile.owned { next += 1; newID[Int(l)] = next }
            // The tile's owned objects laid over the file: pixels of objects other tiles own
            // stay as those tiles wrote them.
            let r = tile.region
            if f == 1 {
                let ids = lab.labels.map { newID[Int($0)] }
                try ids.withUnsafeBufferPointer { try writer.overlay(channel: 0, region: r, labels: $0) }
            } else {
                // Each label pixel over its f × f file pixels, 256 label rows at a time.
                let width = min(r.width * f, out.width - r.x * f)
                for b0 in stride(from: 0, to: r.height, by: 256) {
                    let y0 = (r.y + b0) * f
                    let band = PixelRegion(x: r.x * f, y: y0, width: width, height: min(min(b0 + 256, r.height) * f, out.height - r.y * f) - b0 * f)
                    let ids = (0..<band.count).map { i in
                        newID[Int(lab.labels[(b0 + i / width / f) * r.width + (i % width) / f])]
                    }
                    try ids.withUnsafeBufferPointer { try writer.overlay(channel: 0, region: band, labels: $0) }
                }
            }
            done += 1
            progress?(done, tiled.tileCount)
        }
        try writer.finish(threads: tiled.threads)
        return Summary(objects: Int(next), threshold: threshold, tiles: tiled.tileCount)
    }
}
