import Foundation

/// What kind of file a slide came in; decides where channels, levels and metadata live.
public enum SlideFormat: String, Codable, Sendable {
    case omeTIFF = "OME-TIFF"
    case qptiff = "QPTIFF"
    case multiPage = "multi-page TIFF"
    case multiSample = "multi-sample TIFF"
}

public struct ChannelInfo: Codable, Equatable, Sendable {
    public var index: Int
    /// The channel's name as the file gives it (OME `Channel@Name`, QPI `<Name>`).
    public var name: String
    /// The stain, where the file records one separately (QPI `<Biomarker>`).
    public var biomarker: String?
    /// Whether the page holds an unmixed component rather than a scanned band, where the file
    /// says (QPI `<IsUnmixedComponent>`, as inForm and the scanners' own unmixing write it;
    /// OME: a map annotation `IsUnmixedComponent` = True, as `mifq unmix` writes it).
    public var isUnmixedComponent: Bool? = nil

    enum CodingKeys: String, CodingKey { case index, name, biomarker, isUnmixedComponent = "unmixed_component" }

    /// Whether every one of `channels` says it is an unmixed component.
    static func allUnmixed(_ channels: [ChannelInfo]) -> Bool {
        !channels.isEmpty && channels.allSatisfy { $0.isUnmixedComponent == true }
    }
}

public struct LevelInfo: Codable, Equatable, Sendable {
    public var index: Int
    public var width: Int
    public var height: Int
    /// Level-0 pixels per pixel of this level (width ratio).
    public var downsample: Double
}

/// A page that is not part of the image pyramid: thumbnail, overview/macro, label.
public struct AssociatedImage: Codable, Equatable, Sendable {
    public var role: String
    public var width: Int
    public var height: Int
}

/// One decodable plane: a directory and the sample inside it.
struct Plane {
    var directory: Directory
    var sample: Int
}

/// The result of classifying a file's directories.
struct SlideLayout {
    var format: SlideFormat
    var channels: [ChannelInfo]
    var planes: [[Plane]]          // [level][channel]
    var associated: [AssociatedImage]
    var pixelSizeUm: Double?
    var pixelSizeSource: String?

    /// - Parameters:
    ///   - main: the main IFD chain in file order.
    ///   - sub: SubIFDs of each main page, keyed by the parent's offset.
    static func classify(path: String, main: [Directory], sub: [UInt64: [Directory]]) throws -> SlideLayout {
        guard let first = main.first else { throw SlideError.corrupt(path: path, detail: "no image directory") }
        let desc = first.description ?? ""
        if desc.contains("<OME") { return try ome(path: path, main: main, sub: sub) }
        if (first.software ?? "").hasPrefix("PerkinElmer-QPI") || desc.contains("PerkinElmer-QPI-ImageDescription") {
            return try qptiff(path: path, main: main)
        }
        return try generic(path: path, main: main, sub: sub)
    }

    // MARK: OME-TIFF

    private static func ome(path: String, main: [Directory], sub: [UInt64: [Directory]]) throws -> SlideLayout {
        guard let root = XML.parse(main[0].description ?? ""), let pixels = root.descendant("Pixels") else {
            throw SlideError.corrupt(path: path, detail: "OME-XML in ImageDescription has no Pixels element")
        }
        let sizeC = Int(pixels.attributes["SizeC"] ?? "1") ?? 1
        let names = pixels.children.filter { $0.localName == "Channel" }.map { $0.attributes["Name"] ?? "" }
        let first = main[0]
        // No file holds more channels than its pages' samples (a damaged SizeC would be allocated).
        guard sizeC >= 1, sizeC <= max(main.count, first.samplesPerPixel) else {
            throw SlideError.truncated(path: path, detail: "OME-XML lists \(pixels.attributes["SizeC"] ?? "") channels but the file has \(main.count) pages")
        }
        var level0: [Plane]
        if first.samplesPerPixel >= sizeC && sizeC > 1 {
            level0 = (0..<sizeC).map { Plane(directory: first, sample: $0) }
        } else {
            let ifdOfChannel = (0..<sizeC).map { omeIFD(pixels, c: $0, sizeC: sizeC) }
            if let c = ifdOfChannel.firstIndex(where: { $0 >= main.count }) {
                throw SlideError.truncated(path: path, detail: "OME-XML puts channel \(c + 1) of \(sizeC) on page \(ifdOfChannel[c] + 1) but the file has \(main.count) pages")
            }
            level0 = ifdOfChannel.map { Plane(directory: main[$0], sample: 0) }
        }
        var planes = [level0]
        let subCounts = level0.map { sub[$0.directory.offset]?.count ?? 0 }
        if let nSub = subCounts.min(), nSub > 0 {
            for k in 0..<nSub {
                planes.append(level0.map { Plane(directory: sub[$0.directory.offset]![k], sample: $0.sample) })
            }
        } else {
            planes += reducedRuns(after: level0, in: main)
        }
        // One key-value annotation marks every channel of the image as an unmixed component.
        let unmixed = root.descendants("M").first { $0.attributes["K"] == "IsUnmixedComponent" }.flatMap { flag($0.trimmedText) }
        let channels = (0..<level0.count).map { i in
            ChannelInfo(index: i, name: i < names.count && !names[i].isEmpty ? names[i] : "Channel \(i + 1)", biomarker: nil,
                        isUnmixedComponent: unmixed)
        }
        var size: Double?
        var source: String?
        if let v = pixels.attributes["PhysicalSizeX"].flatMap(Double.init), v > 0 {
            let unit = pixels.attributes["PhysicalSizeXUnit"] ?? "µm"
            if let f = micronsPer(unit) { size = v * f; source = "OME-XML PhysicalSizeX" }
        }
        if size == nil, let r = first.resolutionPixelSizeUm { size = r; source = "TIFF resolution tags" }
        return SlideLayout(format: .omeTIFF, channels: channels, planes: planes,
                           associated: associatedPages(main, used: planes), pixelSizeUm: size, pixelSizeSource: source)
    }

    /// The IFD holding channel `c` at the first focal plane and time point (Z = T = 0): planes are
    /// numbered in `DimensionOrder` (XYCZT: channels fastest; XYZCT: focal planes fastest, so
    /// channel c is plane c × SizeZ), and lie in IFDs in that order unless `TiffData` blocks say
    /// where (a block: `PlaneCount` planes from `FirstC`/`FirstZ`/`FirstT` on, in `IFD`, `IFD` + 1, …).
    static func omeIFD(_ pixels: XMLElement, c: Int, sizeC: Int) -> Int {
        func size(_ key: String) -> Int { max(1, min(Int(pixels.attributes[key] ?? "1") ?? 1, 1 << 20)) }
        let sizes: [Character: Int] = ["C": sizeC, "Z": size("SizeZ"), "T": size("SizeT")]
        var order = Array((pixels.attributes["DimensionOrder"] ?? "XYCZT").uppercased())
        if order.count != 5 || order.prefix(2) != ["X", "Y"] || Set(order.dropFirst(2)) != ["C", "Z", "T"] { order = Array("XYCZT") }
        var stride: [Character: Int] = [:]
        var step = 1
        for d in order.dropFirst(2) { stride[d] = step; step *= sizes[d]! }
        func plane(_ c: Int, _ z: Int, _ t: Int) -> Int { c * stride["C"]! + z * stride["Z"]! + t * stride["T"]! }
        let wanted = plane(c, 0, 0)
        let blocks = pixels.children.filter { $0.localName == "TiffData" }
        for td in blocks {
            func int(_ key: String) -> Int? { td.attributes[key].flatMap { Int($0) } }
            // A block outside the image (a damaged number) places nothing.
            let c0 = int("FirstC") ?? 0, z0 = int("FirstZ") ?? 0, t0 = int("FirstT") ?? 0, ifd = int("IFD") ?? 0
            guard (0..<sizeC).contains(c0), (0..<sizes["Z"]!).contains(z0), (0..<sizes["T"]!).contains(t0), (0..<(1 << 40)).contains(ifd) else { continue }
            let first = plane(c0, z0, t0)
            // Without PlaneCount a block is one plane when it names its IFD, else all of them.
            let count = int("PlaneCount") ?? (int("IFD") == nil ? step : 1)
            if wanted >= first && wanted - first < count { return ifd + (wanted - first) }
        }
        return wanted
    }

    /// True / False as the XML writes them (any case); nil for anything else.
    static func flag(_ text: String) -> Bool? {
        switch text.lowercased() { case "true": return true; case "false": return false; default: return nil }
    }

    static func micronsPer(_ unit: String) -> Double? {
        switch unit {
        case "µm", "um", "μm", "micron", "microns": return 1
        case "nm": return 1e-3
        case "mm": return 1e3
        case "cm": return 1e4
        case "m": return 1e6
        case "Å", "A", "angstrom": return 1e-4
        case "pm": return 1e-6
        default: return nil
        }
    }

    // MARK: QPTIFF

    private static func qptiff(path: String, main: [Directory]) throws -> SlideLayout {
        let roots = main.map { XML.parse($0.description ?? "") }
        func imageType(_ i: Int) -> String { roots[i]?.child("ImageType")?.trimmedText ?? "" }
        // Channels: the pages typed FullResolution, else the leading run of equal-size grey pages.
        var full = main.indices.filter { imageType($0) == "FullResolution" }
        if full.isEmpty { full = leadingRun(main).map { $0 } }
        let level0 = full.map { Plane(directory: main[$0], sample: 0) }
        let channels = full.enumerated().map { (c, i) -> ChannelInfo in
            let root = roots[i]
            let name = root?.child("Name")?.trimmedText
            let bio = root?.child("Biomarker")?.trimmedText
            return ChannelInfo(index: c, name: (name?.isEmpty == false ? name! : "Channel \(c + 1)"),
                               biomarker: bio?.isEmpty == false ? bio : nil,
                               isUnmixedComponent: root?.child("IsUnmixedComponent").flatMap { flag($0.trimmedText) })
        }
        var planes = [level0]
        var i = (full.last ?? 0) + 1
        let n = level0.count
        while i < main.count {
            let t = imageType(i)
            let reduced = t == "ReducedResolution" || (t.isEmpty && main[i].isReducedResolution && main[i].samplesPerPixel == 1)
            if reduced, i + n <= main.count {
                let run = Array(main[i..<(i + n)])
                let w = run[0].width, h = run[0].height
                if run.allSatisfy({ $0.width == w && $0.height == h && $0.samplesPerPixel == 1 }),
                   w < planes.last![0].directory.width {
                    planes.append(run.map { Plane(directory: $0, sample: 0) })
                    i += n
                    continue
                }
            }
            i += 1
        }
        var size: Double?
        var source: String?
        if let text = roots[full.first ?? 0]?.descendant("PixelSizeMicrons")?.trimmedText, let v = Double(text), v > 0 {
            size = v; source = "QPI XML PixelSizeMicrons"
        } else if let r = level0.first?.directory.resolutionPixelSizeUm {
            size = r; source = "TIFF resolution tags"
        }
        var associated: [AssociatedImage] = []
        let used = Set(planes.flatMap { $0.map { $0.directory.offset } })
        for (k, d) in main.enumerated() where !used.contains(d.offset) {
            let t = imageType(k)
            associated.append(AssociatedImage(role: t.isEmpty ? "other" : t, width: d.width, height: d.height))
        }
        return SlideLayout(format: .qptiff, channels: channels, planes: planes, associated: associated,
                           pixelSizeUm: size, pixelSizeSource: source)
    }

    // MARK: plain TIFF

    private static func generic(path: String, main: [Directory], sub: [UInt64: [Directory]]) throws -> SlideLayout {
        let first = main[0]
        var level0: [Plane]
        var format: SlideFormat
        var names: [String]
        if first.samplesPerPixel > 1 {
            format = .multiSample
            level0 = (0..<first.samplesPerPixel).map { Plane(directory: first, sample: $0) }
            names = level0.indices.map { "Channel \($0 + 1)" }
        } else {
            format = .multiPage
            let run = leadingRun(main)
            level0 = run.map { Plane(directory: main[$0], sample: 0) }
            names = run.enumerated().map { c, i in main[i].pageName.flatMap { $0.isEmpty ? nil : $0 } ?? "Channel \(c + 1)" }
        }
        var planes = [level0]
        let subCounts = Set(level0.map { $0.directory.offset }).map { sub[$0]?.count ?? 0 }
        if let nSub = subCounts.min(), nSub > 0 {
            for k in 0..<nSub {
                planes.append(level0.map { Plane(directory: sub[$0.directory.offset]![k], sample: $0.sample) })
            }
        } else if format == .multiPage {
            planes += reducedRuns(after: level0, in: main)
        }
        let channels = names.enumerated().map { ChannelInfo(index: $0, name: $1, biomarker: nil) }
        let size = first.resolutionPixelSizeUm
        return SlideLayout(format: format, channels: channels, planes: planes,
                           associated: associatedPages(main, used: planes),
                           pixelSizeUm: size, pixelSizeSource: size == nil ? nil : "TIFF resolution tags")
    }

    /// Indices of the leading run of full-resolution single-sample pages of equal size.
    private static func leadingRun(_ main: [Directory]) -> [Int] {
        let w = main[0].width, h = main[0].height
        var out: [Int] = []
        for (i, d) in main.enumerated() {
            guard d.width == w, d.height == h, d.samplesPerPixel == 1, !d.isReducedResolution else { break }
            out.append(i)
        }
        return out
    }

    /// Reduced-resolution levels stored as later runs of pages, one per channel (QPTIFF-style).
    private static func reducedRuns(after level0: [Plane], in main: [Directory]) -> [[Plane]] {
        let n = level0.count
        guard let lastUsed = main.firstIndex(where: { $0.offset == level0.last?.directory.offset }) else { return [] }
        var out: [[Plane]] = []
        var prevWidth = level0[0].directory.width
        var i = lastUsed + 1
        while i + n <= main.count {
            let run = Array(main[i..<(i + n)])
            let w = run[0].width, h = run[0].height
            if run.allSatisfy({ $0.width == w && $0.height == h && $0.samplesPerPixel == 1 && $0.isReducedResolution }),
               w < prevWidth {
                out.append(run.map { Plane(directory: $0, sample: 0) })
                prevWidth = w
                i += n
            } else {
                i += 1
            }
        }
        return out
    }

    private static func associatedPages(_ main: [Directory], used planes: [[Plane]]) -> [AssociatedImage] {
        let used = Set(planes.flatMap { $0.map { $0.directory.offset } })
        return main.filter { !used.contains($0.offset) }.map { d in
            let desc = (d.description ?? "").lowercased()
            let role = desc.contains("label") ? "label" : desc.contains("macro") || desc.contains("overview") ? "overview"
                : desc.contains("thumbnail") ? "thumbnail" : "other"
            return AssociatedImage(role: role, width: d.width, height: d.height)
        }
    }
}
