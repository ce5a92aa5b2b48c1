import Foundation
import Imaging

/// Tissue, tumour and stroma at low resolution: 0 background, 1 stroma, 2 tumour.
public struct RegionMap: Sendable {
    public static let background: UInt8 = 0, stroma: UInt8 = 1, tumor: UInt8 = 2
    public let width: Int
    public let height: Int
    /// Level-0 pixels per map pixel (along each axis).
    public let scale: Double
    /// µm per level-0 pixel.
    public let pixelSizeUm: Double
    public var labels: [UInt8]
    /// Level-0 width and height, to weigh the partly covered map pixels at the right and bottom edges.
    let fullWidth: Int, fullHeight: Int

    public init(width: Int, height: Int, scale: Double, pixelSizeUm: Double, labels: [UInt8], fullWidth: Int, fullHeight: Int) {
        self.width = width; self.height = height; self.scale = scale; self.pixelSizeUm = pixelSizeUm
        self.labels = labels; self.fullWidth = fullWidth; self.fullHeight = fullHeight
    }

    /// Region under a level-0 position (px).
    public func region(atX x: Double, y: Double) -> UInt8 {
        let (i, j) = RegionMap.pixel(atX: x, y: y, width: width, height: height, scale: scale)
        return labels[j * width + i]
    }

    /// The map pixel (column, row) under a level-0 position, for a map of this geometry.
    public static func pixel(atX x: Double, y: Double, width: Int, height: Int, scale: Double) -> (Int, Int) {
        (min(width - 1, max(0, Int(x / scale))), min(height - 1, max(0, Int(y / scale))))
    }

    /// Area of a region in mm², each map pixel weighted by the part of it inside the slide.
    public func areaMm2(_ region: UInt8) -> Double {
        var px0 = 0.0
        for j in 0..<height {
            let h = min(Double(fullHeight), Double(j + 1) * scale) - Double(j) * scale
            for i in 0..<width where labels[j * width + i] == region {
                let w = min(Double(fullWidth), Double(i + 1) * scale) - Double(i) * scale
                px0 += max(0, w) * max(0, h)
            }
        }
        return px0 * pixelSizeUm * pixelSizeUm / 1e6
    }
}
