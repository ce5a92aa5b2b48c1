import Foundation
import Phenotyping

/// Cells as QuPath detections, one GeoJSON Feature per line: a Point at the nucleus centroid in
/// level-0 pixel coordinates (QuPath's, as `--annotations` reads them: x_um / pixel size), the
/// cell's phenotypes as its classification (joined by ": ", QuPath's derived classes, in the
/// colour of the QC picture's dot; none: unclassified) and list, its region, and its areas and
/// id as measurements.
enum CellGeoJSON {
    static let header = #"{"type": "FeatureCollection", "features": ["#
    static let footer = "]}\n"

    static func feature(id: Int, _ r: CellRecord, pixelSizeUm px: Double, region: String, phenotypes: [String], hits: [Bool],
                        into out: inout [UInt8]) {
        let matched = phenotypes.indices.filter { hits[$0] }.map { phenotypes[$0].replacingOccurrences(of: "\\", with: "\\\\")
                                                                                  .replacingOccurrences(of: "\"", with: "\\\"") }
        let names = matched.map { "\"\($0)\"" }
        if id > 1 { out += ",\n".utf8 }
        out += #"{"type": "Feature", "geometry": {"type": "Point", "coordinates": ["#.utf8
        CellTable.f3(r.x + 0.5, into: &out); out.append(UInt8(ascii: ",")); CellTable.f3(r.y + 0.5, into: &out)
        out += #"]}, "properties": {"objectType": "detection", "#.utf8
        if !names.isEmpty {
            out += #""classification": {"name": "#.utf8
            // The colour of the QC picture's dot for the cell's first phenotype.
            let c = QCImage.palette[phenotypes.indices.first { hits[$0] }! % QCImage.palette.count]
            out += "\"\(matched.joined(separator: ": "))\", \"color\": [\(c.0), \(c.1), \(c.2)]}, ".utf8
        }
        out += "\"region\": \"\(region)\", \"phenotypes\": [\(names.joined(separator: ", "))], ".utf8
        out += #""measurements": {"Cell ID": "#.utf8
        out += String(id).utf8
        out += #", "Nucleus area µm^2": "#.utf8; CellTable.f3(Double(r.nucleusPixels) * px * px, into: &out)
        out += #", "Cell area µm^2": "#.utf8; CellTable.f3(Double(r.cellPixels) * px * px, into: &out)
        out += "}}}".utf8
    }
}
