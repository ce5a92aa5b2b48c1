import Foundation
import Phenotyping
import SlideIO

/// A simulated cohort: per patient a latent immune score z ~ N(0, 1) raises CD8, CD11c and
/// CD68 (and CD4) densities, the chance of a partial response, and PFS/OS — the associations
/// Wu et al. 2024 report — with administrative censoring between 12 and 36 months.
public struct CohortSimulator: Sendable {
    public var panel: Panel
    public var patients = 20
    public var slidesPerPatient = 1
    public var width = 1024
    public var height = 1024
    public var pixelSizeUm = 0.5
    public var seed: UInt64 = 1
    public var flavours: [SlideFlavour] = [.ome]
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var writeMasks = true
    /// Deflate-compress the slides' tiles (masks are always compressed).
    public var deflate = true
    /// `SlideDesign.autofluorescenceDrift` for every slide.
    public var autofluorescenceDrift = 0.0

    public init(panel: Panel) { self.panel = panel }

    public struct Patient: Sendable {
        public var id: String
        public var score: Double
        public var response: String
        public var pfs: Double, pfsEvent: Int, os: Double, osEvent: Int
    }

    public func patientsTable() -> [Patient] {
        var rng = SplitMix64(seed, 4242)
        return (1...max(patients, 1)).map { i in
            let z = rng.normal()
            let pPR = 1 / (1 + exp(-(0.4 + 1.6 * z)))
            let u = rng.uniform()
            let response = u < 0.04 ? "PD" : (rng.uniform() < pPR ? "PR" : "SD")
            let pfsTrue = -log(max(rng.uniform(), 1e-12)) * 11 / log(2) * exp(0.7 * z)
            let osTrue = max(pfsTrue, -log(max(rng.uniform(), 1e-12)) * 22 / log(2) * exp(0.6 * z))
            let censor = rng.uniform(12, 36)
            return Patient(id: String(format: "P%03d", i), score: z, response: response,
                           pfs: min(pfsTrue, censor), pfsEvent: pfsTrue <= censor ? 1 : 0,
                           os: min(osTrue, censor), osEvent: osTrue <= censor ? 1 : 0)
        }
    }

    public func design(for p: Patient, slide k: Int) -> SlideDesign {
        var d = SlideDesign()
        d.width = width; d.height = height; d.pixelSizeUm = pixelSizeUm
        d.autofluorescenceDrift = autofluorescenceDrift
        d.seed = SplitMix64.mix(seed &+ UInt64(p.id.hashValueStable) &* 31 &+ UInt64(k))
        var rng = SplitMix64(d.seed, 5)
        func scaled(_ v: Double, _ beta: Double) -> Double { v * exp(beta * p.score + 0.15 * rng.normal()) }
        for (t, beta) in [(CellType.cd8, 0.6), (.cd11c, 0.5), (.cd68, 0.45), (.cd4, 0.3)] {
            d.immuneTumor[t] = scaled(d.immuneTumor[t] ?? 0, beta)
            d.immuneStroma[t] = scaled(d.immuneStroma[t] ?? 0, beta)
        }
        d.pdl1Tumor = min(0.8, max(0.02, 0.25 * exp(0.4 * rng.normal())))
        d.tumorFraction = rng.uniform(0.3, 0.5)
        return d
    }

    /// Writes slides, truth and clinical.csv under `dir`; reports each slide as it is done.
    public func write(to dir: URL, progress: ((Int, Int) -> Void)? = nil) throws {
        try AtomicFile.createFolder(dir)
        let table = patientsTable()
        var csv = "patient_id,response,pfs_months,pfs_event,os_months,os_event\n"
        for p in table {
            csv += "\(p.id),\(p.response),\(String(format: "%.2f", p.pfs)),\(p.pfsEvent),\(String(format: "%.2f", p.os)),\(p.osEvent)\n"
        }
        try AtomicFile.write(csv, to: dir.appendingPathComponent("clinical.csv"))
        let total = table.count * slidesPerPatient * flavours.count
        var done = 0
        for p in table {
            for k in 1...max(slidesPerPatient, 1) {
                for f in flavours {
                    var sim = SlideSimulator(panel: panel, design: design(for: p, slide: k), threads: threads)
                    sim.writeMasks = writeMasks
                    sim.deflate = deflate
                    let suffix = flavours.count > 1 ? "_\(f.rawValue)" : ""
                    try sim.write(id: "\(p.id)_S\(k)\(suffix)", to: dir, flavour: f)
                    done += 1
                    progress?(done, total)
                }
            }
        }
    }

    /// Single-stain controls for library estimation: one slide per fluor (every cell carries
    /// it in its compartment; the nuclear fluor in nuclei) and one unstained slide, all with
    /// tissue autofluorescence, under `dir/single-stain/`.
    public func writeSingleStain(to dir: URL) throws {
        let out = dir.appendingPathComponent("single-stain")
        let lib = panel.library
        let stains = lib.components.enumerated().map { ($0.offset, $0.element) } + [(-1, "unstained")]
        for (k, fluor) in stains {
            var d = SlideDesign()
            d.width = width; d.height = height; d.pixelSizeUm = pixelSizeUm
            d.seed = SplitMix64.mix(seed &+ UInt64(k + 1000))
            d.tumorFraction = 0.5
            let isNuclear = k >= 0 && lib.components[k] == panel.nucleus.component
            let all: [CellType: Int] = k < 0 || isNuclear ? [:] : Dictionary(uniqueKeysWithValues: CellType.allCases.map { ($0, k) })
            var sim = SlideSimulator(panel: panel, design: d, threads: threads)
            sim.writeMasks = false
            sim.stainOverride = StainMap(nucleus: isNuclear ? k : nil, byType: all, pdl1: nil, componentCount: lib.componentCount)
            let name = fluor.replacingOccurrences(of: " ", with: "")
            try sim.write(id: name, to: out, flavour: .ome)
        }
    }
}

extension String {
    /// FNV-1a, stable across runs (Swift's hashValue is randomly seeded per process).
    var hashValueStable: UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }
}
