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
            // The tile's owned objects laid over the file: pixels of objects other tiles own
            // stay as those tiles wrote them.
            let r = tile.region
            let ids = lab.labels.map { newID[Int($0)] }
            try ids.withUnsafeBufferPointer { try writer.overlay(channel: 0, region: r, labels: $0) }
            done += 1
            progress?(done, tiled.tileCount)
        }
        try writer.finish()
        return Summary(objects: Int(next), threshold: threshold, tiles: tiled.tileCount)
    }
}
