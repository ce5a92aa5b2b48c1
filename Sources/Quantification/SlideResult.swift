import Foundation

/// Everything quantify learns about one slide; saved as `DIR/slides/<slide_id>.json` so that
/// per-slide results are complete on their own and `mifq merge` can rebuild the tables.
public struct SlideResult: Codable, Sendable {
    public var slideId: String
    public var patientId: String
    public var path: String
    public var pixelSizeUm: Double
    public var tissueAreaMm2: Double
    public var tumorAreaMm2: Double
    public var stromaAreaMm2: Double
    public var cells: Int
    /// Phenotype names in the panel's order.
    public var phenotypes: [String]
    /// phenotype → ["total", "tumor", "stroma"] → count
    public var counts: [String: [String: Int]]
    /// Marker thresholds actually used on this slide.
    public var thresholds: [String: Double]
    public var nucleusThreshold: Double
    public var tissueThreshold: Double
    public var tumorThreshold: Double
    public var tiles: Int
    public var seconds: Double
    public var mifqVersion: String
    public var panelHash: String
    public var cellsTable: String?

    enum CodingKeys: String, CodingKey {
        case slideId = "slide_id", patientId = "patient_id", path, pixelSizeUm = "pixel_size_um"
        case tissueAreaMm2 = "tissue_area_mm2", tumorAreaMm2 = "tumor_area_mm2", stromaAreaMm2 = "stroma_area_mm2"
        case cells, phenotypes, counts, thresholds, nucleusThreshold = "nucleus_threshold", tissueThreshold = "tissue_threshold"
        case tumorThreshold = "tumor_threshold", tiles, seconds, mifqVersion = "mifq_version", panelHash = "panel_hash"
        case cellsTable = "cells_table"
    }

    public func count(_ phenotype: String, _ region: String) -> Int { counts[phenotype]?[region] ?? 0 }

    public func area(_ region: String) -> Double {
        switch region {
        case "tumor": return tumorAreaMm2
        case "stroma": return stromaAreaMm2
        default: return tissueAreaMm2
        }
    }
}

public let mifqVersion = "0.1.0"
