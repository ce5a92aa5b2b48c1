import Foundation
import Phenotyping
import Tissue

/// Everything quantify learns about one slide; saved as `DIR/slides/<slide_id>.json` so that
/// per-slide results are complete on their own and `mifq merge` can rebuild the tables.
public struct SlideResult: Codable, Sendable {
    public var slideId: String
    public var patientId: String
    public var path: String
    /// The slide file as it was quantified (size and modification time), so that `--resume`
    /// runs a slide again whose file was replaced under the same name (a re-scan, a new
    /// export); nil in results written before it was kept.
    public var file: FileStamp? = nil
    /// The file's pixel size (µm).
    public var pixelSizeUm: Double
    /// The pixel size cells were found and measured at: the file's, or coarser when the panel
    /// requests it (`requestedPixelSizeMicrons`); nil in results written before it was kept.
    public var analysisPixelSizeUm: Double? = nil
    public var tissueAreaMm2: Double
    public var tumorAreaMm2: Double
    public var stromaAreaMm2: Double
    public var cells: Int
    /// Phenotype names in the panel's order.
    public var phenotypes: [String]
    /// phenotype → ["total", "tumor", "stroma"] → count
    public var counts: [String: [String: Int]]
    /// Marker thresholds actually used on this slide; nil (JSON null) where there was nothing
    /// to set one from (no cells in tissue for an automatic gate).
    public var thresholds: [String: Double?]
    /// The markers whose threshold was set by hand (`quantify --gates`), with that threshold;
    /// nil in results written before such thresholds existed (read as none).
    public var gateOverrides: [String: Double]?
    /// Per marker in the panel's order, the distribution its gate was set on
    /// (`GateHistogram`); nil in results written before they were kept.
    public var gateHistograms: [GateHistogram]?
    /// The nucleus foreground, tissue and tumour thresholds; nil where undefined (e.g. a slide
    /// without tissue has no tumour threshold).
    public var nucleusThreshold: Double?
    public var tissueThreshold: Double?
    public var tumorThreshold: Double?
    /// What set the tumour threshold; nil in results written before it was kept.
    public var tumorThresholdRule: TissueDetector.ThresholdRule?
    /// True when the automatic tumour threshold came from the tissue's own level, no minimum
    /// set (`TissueDetector.Result.tumorThresholdUndecided`: all tumour or none, which the map
    /// cannot tell); said in a note and the QC caption. nil otherwise, and in results written
    /// before it was kept.
    public var tumorThresholdUndecided: Bool? = nil
    public var tiles: Int
    public var seconds: Double
    public var mifqVersion: String
    public var panelHash: String
    public var cellsTable: String?
    /// The pathologist's regions the slide was quantified within (`quantify --annotations`);
    /// nil when none.
    public var annotations: AnnotationRecord?
    /// Per marker (the tumour marker aside), the tumour and stroma background levels learnt for
    /// placing immune cells at the tumour edge (`EdgeBackground`), and whether each was used;
    /// nil when the panel does not place them so (or in results written before).
    public var edgeBackground: [EdgeBackground.Level]?
    /// Tissue the panel's tissue edge (`tissueEdgeSigmaMicrons`) took off the map where bright
    /// tissue meets glass, mm² (map pixels of the whole map, before annotations); nil when the
    /// rule did not run (off, or a slide without glass) or in results written before.
    public var tissueEdgeRemovedMm2: Double?
    /// Per channel with a ceiling (integer samples), how many analysed pixels sat at it:
    /// light the camera clipped, so the components unmixed from it are too low there; nil for
    /// a slide of unmixed components or in results written before.
    public var saturation: [ChannelSaturation]? = nil

    /// The saturated pixels of one channel (`SaturationTally`): those of the tiles' cores the
    /// tile pass read (the parts that hold tissue), at the pixel size cells were found at.
    public struct ChannelSaturation: Codable, Sendable, Equatable {
        public var channel: String
        /// The ceiling (`Slide.saturationLevel`).
        public var level: Double
        public var pixels: Int
        /// `pixels` over the tissue area in pixels; nil without tissue. Pixels the tile pass read
        /// beyond the tissue (near it; all of a slide without a pyramid) count too, so a share
        /// above 1 says glass was clipped as well.
        public var fractionOfTissue: Double?
        public init(channel: String, level: Double, pixels: Int, fractionOfTissue: Double?) {
            self.channel = channel; self.level = level; self.pixels = pixels; self.fractionOfTissue = fractionOfTissue
        }
        enum CodingKeys: String, CodingKey {
            case channel, level, pixels, fractionOfTissue = "fraction_of_tissue"
        }
    }

    /// A share of the tissue saturated in some channel from which a note names the slide
    /// (the report's QC caption lists every channel with saturated pixels): 0.1%, about a
    /// cell's area in every 5000 µm² of tissue clipped.
    public static let saturationNoteFraction = 0.001

    /// The channels saturated over at least `saturationNoteFraction` of the tissue.
    public var saturatedChannels: [ChannelSaturation] {
        (saturation ?? []).filter { ($0.fractionOfTissue ?? 0) >= SlideResult.saturationNoteFraction }
    }

    /// A file's size in bytes and last modification (seconds since 1970, to the file system's
    /// resolution), what `make` and `rsync` compare too: reading a whole slide again to hash it
    /// would cost what quantifying it costs.
    public struct FileStamp: Codable, Sendable, Equatable {
        public var bytes: Int
        public var modified: Double
        /// The stamp of the file at `path` (a link's target); nil when it cannot be read.
        public init?(path: String) {
            // attributesOfItem describes a link itself; the slide is what it points to.
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            guard let a = try? FileManager.default.attributesOfItem(atPath: target),
                  let size = (a[.size] as? NSNumber)?.intValue, let date = a[.modificationDate] as? Date else { return nil }
            bytes = size; modified = date.timeIntervalSince1970
        }
    }

    /// What a slide's annotation file did: its name and hash (a changed file re-runs the slide
    /// under `--resume`), its polygons, and the tissue it took out.
    public struct AnnotationRecord: Codable, Sendable, Equatable {
        public var file: String
        public var hash: String
        public var includePolygons: Int
        public var excludePolygons: Int
        /// Tissue (as the map found it) outside the included polygons or inside the excluded ones.
        public var removedTissueMm2: Double
        enum CodingKeys: String, CodingKey {
            case file, hash, includePolygons = "include_polygons", excludePolygons = "exclude_polygons"
            case removedTissueMm2 = "removed_tissue_mm2"
        }
    }

    enum CodingKeys: String, CodingKey {
        case slideId = "slide_id", patientId = "patient_id", path, file, pixelSizeUm = "pixel_size_um"
        case analysisPixelSizeUm = "analysis_pixel_size_um"
        case tissueAreaMm2 = "tissue_area_mm2", tumorAreaMm2 = "tumor_area_mm2", stromaAreaMm2 = "stroma_area_mm2"
        case cells, phenotypes, counts, thresholds, gateOverrides = "gate_overrides",
             gateHistograms = "gate_histograms", nucleusThreshold = "nucleus_threshold", tissueThreshold = "tissue_threshold"
        case tumorThreshold = "tumor_threshold", tumorThresholdRule = "tumor_threshold_rule",
             tumorThresholdUndecided = "tumor_threshold_undecided", tiles, seconds, mifqVersion = "mifq_version", panelHash = "panel_hash"
        case cellsTable = "cells_table", annotations, edgeBackground = "edge_background"
        case tissueEdgeRemovedMm2 = "tissue_edge_removed_mm2"
        case saturation
    }

    /// Every key is written, undefined thresholds as null (JSON has no infinity or NaN).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(slideId, forKey: .slideId); try c.encode(patientId, forKey: .patientId); try c.encode(path, forKey: .path)
        try c.encodeIfPresent(file, forKey: .file)
        try c.encode(pixelSizeUm, forKey: .pixelSizeUm); try c.encode(analysisPixelSizeUm, forKey: .analysisPixelSizeUm)
        try c.encode(tissueAreaMm2, forKey: .tissueAreaMm2); try c.encode(tumorAreaMm2, forKey: .tumorAreaMm2)
        try c.encode(stromaAreaMm2, forKey: .stromaAreaMm2)
        try c.encode(cells, forKey: .cells); try c.encode(phenotypes, forKey: .phenotypes); try c.encode(counts, forKey: .counts)
        try c.encode(thresholds, forKey: .thresholds)
        try c.encode(gateOverrides ?? [:], forKey: .gateOverrides)
        try c.encode(gateHistograms ?? [], forKey: .gateHistograms)
        try c.encode(nucleusThreshold, forKey: .nucleusThreshold); try c.encode(tissueThreshold, forKey: .tissueThreshold)
        try c.encode(tumorThreshold, forKey: .tumorThreshold)
        try c.encodeIfPresent(tumorThresholdRule, forKey: .tumorThresholdRule)
        try c.encodeIfPresent(tumorThresholdUndecided, forKey: .tumorThresholdUndecided)
        try c.encode(tiles, forKey: .tiles); try c.encode(seconds, forKey: .seconds)
        try c.encode(mifqVersion, forKey: .mifqVersion); try c.encode(panelHash, forKey: .panelHash)
        try c.encode(cellsTable, forKey: .cellsTable)
        try c.encode(annotations, forKey: .annotations)
        try c.encodeIfPresent(edgeBackground, forKey: .edgeBackground)
        try c.encodeIfPresent(tissueEdgeRemovedMm2, forKey: .tissueEdgeRemovedMm2)
        try c.encodeIfPresent(saturation, forKey: .saturation)
    }

    /// A threshold as stored: nil unless finite.
    public static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }

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
