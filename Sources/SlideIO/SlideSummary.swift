import Foundation

/// What `mifq inspect` reports about a slide; its JSON form is documented in the README.
public struct SlideSummary: Codable, Sendable {
    public var path: String
    public var format: String
    public var container: String
    public var width: Int
    public var height: Int
    public var sampleType: String
    public var compression: String
    public var tileWidth: Int?
    public var tileHeight: Int?
    public var rowsPerStrip: Int?
    public var pixelSizeUm: Double?
    public var pixelSizeSource: String?
    public var channels: [ChannelInfo]
    public var levels: [LevelInfo]
    public var associatedImages: [AssociatedImage]
    public var statistics: [ChannelStatistics]?

    enum CodingKeys: String, CodingKey {
        case path, format, container, width, height
        case sampleType = "sample_type", compression
        case tileWidth = "tile_width", tileHeight = "tile_height", rowsPerStrip = "rows_per_strip"
        case pixelSizeUm = "pixel_size_um", pixelSizeSource = "pixel_size_source"
        case channels, levels, associatedImages = "associated_images", statistics
    }

    public init(_ slide: Slide, statistics: [ChannelStatistics]? = nil) {
        let s = slide.storage
        path = slide.path
        format = slide.format.rawValue
        container = slide.isBigTIFF ? "BigTIFF" : "TIFF"
        width = slide.width
        height = slide.height
        sampleType = slide.sampleType().rawValue
        compression = s.compression
        tileWidth = s.tiled ? s.blockWidth : nil
        tileHeight = s.tiled ? s.blockHeight : nil
        rowsPerStrip = s.tiled ? nil : s.blockHeight
        pixelSizeUm = slide.pixelSizeUm
        pixelSizeSource = slide.pixelSizeSource
        channels = slide.channels
        levels = slide.levels
        associatedImages = slide.associatedImages
        self.statistics = statistics
    }

    public func json() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return String(decoding: try enc.encode(self), as: UTF8.self) } catch {
            throw SlideError.invalid(path: path, detail: "its summary cannot be written as JSON (\(error.localizedDescription))")
        }
    }

    /// A human-readable block for the terminal.
    public func text() -> String {
        var out = "\(path)\n"
        out += "  format       \(format) (\(container))\n"
        if ChannelInfo.allUnmixed(channels) {
            out += "  content      unmixed components (quantify reads them as they are)\n"
        }
        out += "  size         \(width) × \(height) px, \(channels.count) channels, \(sampleType), \(compression)\n"
        if let tw = tileWidth, let th = tileHeight { out += "  tiles        \(tw) × \(th)\n" }
        if let r = rowsPerStrip { out += "  strips       \(r) rows\n" }
        if let p = pixelSizeUm {
            out += "  pixel size   \(fmt(p)) µm (\(pixelSizeSource ?? "")) — \(fmt(Double(width) * p / 1000)) × \(fmt(Double(height) * p / 1000)) mm\n"
        } else {
            out += "  pixel size   unknown (give --pixel-size for areas and densities)\n"
        }
        out += "  levels       " + levels.map { "\($0.width)×\($0.height)" }.joined(separator: ", ") + "\n"
        for a in associatedImages { out += "  associated   \(a.role) \(a.width)×\(a.height)\n" }
        out += "  channels\n"
        for c in channels {
            let bio = c.biomarker.map { "  (\($0))" } ?? ""
            var line = "    \(c.index)  \(c.name)\(bio)"
            if let st = statistics?.first(where: { $0.channel == c.index }) {
                line = line.padding(toLength: 34, withPad: " ", startingAt: 0)
                let sum = st.integerSum.map(String.init) ?? fmt(st.sum)
                line += " min \(fmt(st.min))  max \(fmt(st.max))  mean \(fmt(st.mean))  sum \(sum)"
                if let n = st.nonFinite, n > 0 { line += "  non-finite \(n)" }
                if let n = st.saturated, n > 0 { line += String(format: "  saturated %d (%.3g%%)", n, 100 * Double(n) / Double(max(1, st.pixels))) }
            }
            out += line + "\n"
        }
        return out
    }

    private func fmt(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.4g", v)
    }
}
