import Foundation
import SlideIO
import Tissue

/// A slide's tumour and stroma regions as QuPath annotations (File › Import objects), to look
/// at the map the densities were counted in over the slide itself: one Feature per region, a
/// MultiPolygon along the region map's pixel edges in level-0 pixels of the file (the
/// coordinates `--annotations` reads and `cells/<slide>.geojson` writes), classified "Tumor"
/// or "Stroma" (QuPath's own classes, in their colours), with the region's area in mm² as the
/// slide's table has it. A region the slide does not have is left out.
enum RegionGeoJSON {
    /// Region label, QuPath class and colour, the table's name for it.
    static let regions: [(label: UInt8, name: String, colour: String, key: String)] = [
        (RegionMap.tumor, "Tumor", "[200, 0, 0]", "tumor"),
        (RegionMap.stroma, "Stroma", "[150, 200, 150]", "stroma"),
    ]

    /// The file's bytes. `areas`: the map's `areasMm2()`; `binning`: the file's level-0 pixels
    /// per pixel of the slide the map was made on (`Slide.binning`).
    static func encode(map: RegionMap, areasMm2 areas: [Double], binning: Int) -> [UInt8] {
        var out: [UInt8] = Array(#"{"type": "FeatureCollection", "features": ["#.utf8)
        var first = true
        for r in regions {
            let polygons = map.outlines(of: r.label)
            if polygons.isEmpty { continue }
            out += (first ? "\n" : ",\n").utf8
            first = false
            out += #"{"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": ["#.utf8
            for (i, p) in polygons.enumerated() {
                out += (i == 0 ? "[" : ", [").utf8
                for (j, ring) in p.enumerated() {
                    out += (j == 0 ? "[" : ", [").utf8
                    // GeoJSON closes each ring by repeating its first point.
                    for (k, c) in (ring + [ring[0]]).enumerated() {
                        out += (k == 0 ? "[" : ", [").utf8
                        number(c.x * Double(binning), into: &out); out += ", ".utf8; number(c.y * Double(binning), into: &out)
                        out.append(UInt8(ascii: "]"))
                    }
                    out.append(UInt8(ascii: "]"))
                }
                out.append(UInt8(ascii: "]"))
            }
            out += "]}, \"properties\": {\"objectType\": \"annotation\", \"name\": \"\(r.name)\", ".utf8
            out += "\"classification\": {\"name\": \"\(r.name)\", \"color\": \(r.colour)}, \"region\": \"\(r.key)\", \"area_mm2\": ".utf8
            out += String(areas[Int(r.label)]).utf8
            out += "}}".utf8
        }
        out += "\n]}\n".utf8
        return out
    }

    /// A coordinate: whole numbers as integers, others to three decimals (a thousandth of a pixel).
    static func number(_ v: Double, into out: inout [UInt8]) {
        if v == v.rounded(), abs(v) < 1e15 { out += String(Int(v)).utf8 } else { CellTable.f3(v, into: &out) }
    }

    static func write(map: RegionMap, areasMm2 areas: [Double], binning: Int, to url: URL) throws {
        try AtomicFile.write(Data(encode(map: map, areasMm2: areas, binning: binning)), to: url)
    }
}
