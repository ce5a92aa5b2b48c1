import Foundation
import Imaging
import SlideIO

/// Writes a whole image's nuclei (or cells) as a uint32 label TIFF, streaming tile by tile.
/// Labels are numbered 1…n in tile order, then by centroid (rows, then columns) within a tile.
public enum LabelExport {
    public struct Summary: Sendable {
        public var objects: Int
        public var threshold: Float
        public var tiles: Int
    }

    public static func write(_ tiled: TiledSegmentation, to path: String, cells: Bool,
                             progress: ((Int, Int) -> Void)? = nil) throws -> Summary {
        let threshold = try tiled.estimateThreshold()
        let spec = ImageSpec(width: tiled.width, height: tiled.height, channelNames: [cells ? "cells" : "nuclei"],
                             sampleType: .uint32, pixelSizeUm: tiled.segmenter.pixelSizeUm, tileSize: 512, levels: 1)
        let writer = try OMETIFFWriter(path: path, spec: spec)
        var next: UInt32 = 0
        var done = 0
        let expansion = cells ? tiled.segmenter.parameters.cellExpansionMicrons / tiled.segmenter.pixelSizeUm : 0
        try tiled.run(threshold: threshold, cellExpansionPx: expansion) { tile in
            let lab = cells ? tile.cells : tile.nuclei
            var newID = [UInt32](repeating: 0, count: Int(lab.maxLabel) + 1)
            for l in tile.owned { next += 1; newID[Int(l)] = next }
            let r = tile.region
            var run = [UInt32]()
            for y in 0..<r.height {
                var x = 0
                while x < r.width {
                    let id = newID[Int(lab.labels[y * r.width + x])]
                    if id == 0 { x += 1; continue }
                    let x0 = x
                    run.removeAll(keepingCapacity: true)
                    while x < r.width && newID[Int(lab.labels[y * r.width + x])] == id { run.append(id); x += 1 }
                    try run.withUnsafeBufferPointer {
                        try writer.write(channel: 0, region: PixelRegion(x: r.x + x0, y: r.y + y, width: x - x0, height: 1), labels: $0)
                    }
                }
            }
            done += 1
            progress?(done, tiled.tileCount)
        }
        try writer.finish()
        return Summary(objects: Int(next), threshold: threshold, tiles: tiled.tileCount)
    }
}
