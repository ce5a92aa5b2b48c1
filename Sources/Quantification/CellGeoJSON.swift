import Foundation
import Phenotyping

/// Cells as QuPath detections, one GeoJSON Feature per line: a Point at the nucleus centroid in
/// level-0 pixel coordinates (QuPath's, as `--annotations` reads them: x_um / pixel size), the
/// cell's phenotypes as its classification (joined by ": ", QuPath's derived classes, in the
/// colour of the QC picture's dot; none: unclassified) and list, its region, and its areas and
/// id as measurements.
struct CellGeoJSON {
    static let header = #"{"type": "FeatureCollection", "features": ["#
    static let footer = "]}\n"

    /// Per phenotype, its name escaped for a JSON string and its classification colour (the QC
    /// picture's dot colour), made once per slide, not per cell.
    let names: [String]
    let colours: [String]
    let pixelSizeUm: Double
    /// The file's level-0 pixels per analysis pixel (`Slide.binning`).
    let binning: Double

    init(phenotypes: [String], pixelSizeUm: Double, binning: Int = 1) {
        names = phenotypes.map { $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
        colours = phenotypes.indices.map { k in
            let c = QCImage.palette[k % QCImage.palette.count]
            return "[\(c.0), \(c.1), \(c.2)]"
        }
        self.pixelSizeUm = pixelSizeUm
        self.binning = Double(binning)
    }

    func feature(id: Int, _ r: CellRecord, region: String, hits: [Bool], into out: inout [UInt8]) {
        let matched = names.indices.filter { hits[$0] }
        let px = pixelSizeUm
        if id > 1 { out += ",\n".utf8 }
        out += #"{"type": "Feature", "geometry": {"type": "Point", "coordinates": ["#.utf8
        CellTable.f3((r.x + 0.5) * binning, into: &out); out.append(UInt8(ascii: ",")); CellTable.f3((r.y + 0.5) * binning, into: &out)
        out += #"]}, "properties": {"objectType": "detection", "#.utf8
        if let first = matched.first {
            // QuPath's derived class "A: B", in the colour of the first phenotype.
            let joined = matched.map { names[$0] }.joined(separator: ": ")
            out += "\"classification\": {\"name\": \"\(joined)\", \"color\": \(colours[first])}, ".utf8
        }
        out += "\"region\": \"\(region)\", \"phenotypes\": [\(matched.map { "\"\(names[$0])\"" }.joined(separator: ", "))], ".utf8
        out += #""measurements": {"Cell ID": "#.utf8
        out += String(id).utf8
        out += #", "Nucleus area µm^2": "#.utf8; CellTable.f3(Double(r.nucleusPixels) * px * px, into: &out)
        out += #", "Cell area µm^2": "#.utf8; CellTable.f3(Double(r.cellPixels) * px * px, into: &out)
        out += "}}}".utf8
    }
}
