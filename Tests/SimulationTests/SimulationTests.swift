import Foundation
import XCTest
import Phenotyping
import SlideIO
@testable import Simulation

final class SimulationTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var panel: Panel { try! Panel.load(root.appendingPathComponent("panels/escc-opal7.json").path) }
    static func tmp() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("mifq-sim-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    static func design(seed: UInt64, size: Int = 384) -> SlideDesign {
        var d = SlideDesign(); d.width = size; d.height = size; d.seed = seed
        return d
    }

    func testSameSeedSameBytesDifferentSeedDiffers() throws {
        let a = Self.tmp(), b = Self.tmp(), c = Self.tmp()
        try SlideSimulator(panel: Self.panel, design: Self.design(seed: 7), threads: 1).write(id: "s", to: a, flavour: .ome)
        try SlideSimulator(panel: Self.panel, design: Self.design(seed: 7), threads: 2).write(id: "s", to: b, flavour: .ome)
        try SlideSimulator(panel: Self.panel, design: Self.design(seed: 8), threads: 2).write(id: "s", to: c, flavour: .ome)
        for f in ["slides/s.ome.tif", "truth/s.cells.csv", "truth/s.nuclei.tif", "truth/s.regions.tif", "truth/s.json"] {
            let x = try Data(contentsOf: a.appendingPathComponent(f)), y = try Data(contentsOf: b.appendingPathComponent(f))
            XCTAssertEqual(x, y, "\(f) differs between runs with the same seed")
        }
        XCTAssertNotEqual(try Data(contentsOf: a.appendingPathComponent("slides/s.ome.tif")),
                          try Data(contentsOf: c.appendingPathComponent("slides/s.ome.tif")))
    }

    /// Autofluorescence drift: without noise, the slide with drift d differs from the one
    /// without by the autofluorescence times d × (2x / width − 1) — the same cells, so the
    /// difference is linear in d (twice as large at d = 0.4 as at 0.2, to the uint16 rounding),
    /// below zero on the left half and above on the right. (Without drift the simulator writes
    /// what it wrote before: `testRegenerateFixture`'s committed slides.)
    func testAutofluorescenceDrift() throws {
        func channel(_ drift: Double) throws -> [Float] {
            var d = Self.design(seed: 5); d.noise = false; d.illumination = false; d.autofluorescenceDrift = drift
            let dir = Self.tmp()
            _ = try SlideSimulator(panel: Self.panel, design: d, threads: 2).write(id: "d", to: dir, flavour: .ome)
            return try Slide(path: dir.appendingPathComponent("slides/d.ome.tif").path).read(channel: 1, region: PixelRegion(x: 0, y: 0, width: 384, height: 384))
        }
        let even = try channel(0), small = try channel(0.2), large = try channel(0.4)
        var left = 0.0, right = 0.0, sumSmall = 0.0, sumLarge = 0.0
        for y in 0..<384 {
            for x in 0..<384 {
                let i = y * 384 + x
                let a = Double(small[i] - even[i]), b = Double(large[i] - even[i])
                if x < 192 { left += b } else { right += b }
                sumSmall += abs(a); sumLarge += abs(b)
            }
        }
        XCTAssertLessThan(left, 0); XCTAssertGreaterThan(right, 0)
        XCTAssertEqual(sumLarge / sumSmall, 2, accuracy: 0.02)
    }

    /// Cells in the CSV are exactly the objects of the label mask, with their areas; region
    /// areas in the JSON are the region mask's pixel counts.
    func testTruthIsSelfConsistent() throws {
        let dir = Self.tmp()
        let truth = try SlideSimulator(panel: Self.panel, design: Self.design(seed: 3, size: 512)).write(id: "t", to: dir, flavour: .qptiff)
        let labels = try Slide(path: dir.appendingPathComponent("truth/t.nuclei.tif").path)
        let lab = try labels.read(channel: 0, region: PixelRegion(x: 0, y: 0, width: 512, height: 512))
        var area: [Int: Int] = [:]
        for v in lab where v > 0 { area[Int(v), default: 0] += 1 }
        let csv = try String(contentsOf: dir.appendingPathComponent("truth/t.cells.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.count, area.count)
        XCTAssertEqual(truth.cells, rows.count)
        XCTAssertGreaterThan(rows.count, 50)
        for r in rows {
            let id = Int(r[0])!
            XCTAssertEqual(Double(r[3])!, Double(area[id] ?? -1) * 0.25, accuracy: 1e-3, "cell \(id)")
        }
        let regions = try Slide(path: dir.appendingPathComponent("truth/t.regions.tif").path)
            .read(channel: 0, region: PixelRegion(x: 0, y: 0, width: 512, height: 512))
        XCTAssertEqual(truth.tumorAreaMm2, Double(regions.filter { $0 == 2 }.count) * 0.25e-6, accuracy: 1e-12)
        XCTAssertEqual(truth.stromaAreaMm2, Double(regions.filter { $0 == 1 }.count) * 0.25e-6, accuracy: 1e-12)
        XCTAssertGreaterThan(regions.filter { $0 == 0 }.count, 0, "background around the tissue")
        // Glass holds no cells: no nucleus pixel is background (a nest's edge cells, placed by
        // their centres, reach past the outline; 335 of this slide's nucleus pixels were glass
        // before the truth counted cells' bodies as tissue).
        XCTAssertEqual(zip(lab, regions).filter { $0 > 0 && $1 == 0 }.count, 0)
        // Counts in the JSON are the CSV's phenotype columns summed.
        let header = csv.split(separator: "\n")[0].split(separator: ",").map(String.init)
        let col = header.firstIndex(of: "CD8")!
        XCTAssertEqual(truth.counts["CD8"]!["total"], rows.filter { $0[col] == "1" }.count)
        // Densities in the tumour: several thousand nuclei per mm².
        XCTAssertGreaterThan(Double(rows.filter { $0[4] == "tumor" }.count) / truth.tumorAreaMm2, 2000)
    }

    /// tifffile read the committed simulated slides (scripts/fixtures/tifffile_reads_simulated.py);
    /// the simulator still writes the same pixels, and both flavours decode alike.
    func testTifffileReadsBothFlavours() throws {
        let seen = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("testdata/simulated/tifffile.json"))) as! [String: [String: Any]]
        let dir = Self.tmp()
        for flavour in SlideFlavour.allCases {
            try SlideSimulator(panel: Self.panel, design: Self.design(seed: 11, size: 256)).write(id: "tiny", to: dir, flavour: flavour)
            let name = "tiny.\(flavour.fileExtension)"
            let expect = seen[name]!
            for path in [dir.appendingPathComponent("slides/\(name)").path, Self.root.appendingPathComponent("testdata/simulated/\(name)").path] {
                let s = try Slide(path: path)
                XCTAssertEqual(s.channels.map(\.name), expect["channel_names"] as? [String])
                XCTAssertEqual(try ChannelStatistics.compute(s).map { $0.integerSum! }, (expect["sums"] as! [NSNumber]).map(\.int64Value), path)
                XCTAssertEqual(s.pixelSizeUm, 0.5)
            }
        }
    }

    /// The camera noise: the same slide with and without noise differs by √(signal + 3²) times
    /// a standard normal that is independent along rows and between rows and channels.
    func testNoiseIsStandardNormalAndIndependent() throws {
        let dir = Self.tmp()
        var quiet = Self.design(seed: 5, size: 256); quiet.noise = false
        try SlideSimulator(panel: Self.panel, design: Self.design(seed: 5, size: 256), threads: 1).write(id: "noisy", to: dir, flavour: .ome)
        try SlideSimulator(panel: Self.panel, design: quiet, threads: 1).write(id: "quiet", to: dir, flavour: .ome)
        let noisy = try Slide(path: dir.appendingPathComponent("slides/noisy.ome.tif").path)
        let clean = try Slide(path: dir.appendingPathComponent("slides/quiet.ome.tif").path)
        let dark = Float(Self.panel.library.darkOffset), all = PixelRegion(x: 0, y: 0, width: 256, height: 256)
        var z: [[Float]] = []
        for c in 0..<noisy.channels.count {
            let a = try noisy.read(channel: c, region: all), b = try clean.read(channel: c, region: all)
            // Standardised where the noise cannot reach the clamp at 0 (signal ≥ 30 is ≥ 4.8 σ up).
            z.append(zip(a, b).map { $1 - dark >= 30 ? ($0 - $1) / ($1 - dark + 9).squareRoot() : .nan })
        }
        let flat = z.flatMap { $0 }.filter { !$0.isNaN }, n = Float(flat.count)
        XCTAssertGreaterThan(flat.count, 100_000)
        let mean = flat.reduce(0, +) / n
        let sd = (flat.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(sd, 1, accuracy: 0.02)   // rounding to integers adds at most ~1% to the sd
        XCTAssertEqual(Float(flat.filter { abs($0) > 2 }.count) / n, 0.0455, accuracy: 0.003)
        func correlation(_ pairs: [(Float, Float)]) -> Float {
            let ma = pairs.map(\.0).reduce(0, +) / Float(pairs.count), mb = pairs.map(\.1).reduce(0, +) / Float(pairs.count)
            var sab: Float = 0, saa: Float = 0, sbb: Float = 0
            for (a, b) in pairs { sab += (a - ma) * (b - mb); saa += (a - ma) * (a - ma); sbb += (b - mb) * (b - mb) }
            return sab / (saa * sbb).squareRoot()
        }
        var alongRow: [(Float, Float)] = [], nextRow: [(Float, Float)] = [], nextChannel: [(Float, Float)] = []
        func add(_ a: Float, _ b: Float, to pairs: inout [(Float, Float)]) { if !a.isNaN && !b.isNaN { pairs.append((a, b)) } }
        for c in 0..<z.count { for y in 0..<255 { for x in 0..<255 {
            add(z[c][y * 256 + x], z[c][y * 256 + x + 1], to: &alongRow)
            add(z[c][y * 256 + x], z[c][(y + 1) * 256 + x], to: &nextRow)
            if c + 1 < z.count { add(z[c][y * 256 + x], z[c + 1][y * 256 + x], to: &nextChannel) }
        } } }
        for (name, pairs) in [("along a row", alongRow), ("between rows", nextRow), ("between channels", nextChannel)] {
            XCTAssertEqual(correlation(pairs), 0, accuracy: 0.01, name)
        }
    }

    /// Set MIFQ_WRITE_FIXTURES=1 to regenerate testdata/simulated/ (then run the fixture script).
    func testRegenerateFixture() throws {
        guard ProcessInfo.processInfo.environment["MIFQ_WRITE_FIXTURES"] == "1" else { return }
        let dir = Self.tmp()
        for f in SlideFlavour.allCases {
            var sim = SlideSimulator(panel: Self.panel, design: Self.design(seed: 11, size: 256))
            sim.writeMasks = false
            try sim.write(id: "tiny", to: dir, flavour: f)
            let dst = Self.root.appendingPathComponent("testdata/simulated/tiny.\(f.fileExtension)")
            try? FileManager.default.removeItem(at: dst)
            try FileManager.default.createDirectory(at: dst.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: dir.appendingPathComponent("slides/tiny.\(f.fileExtension)"), to: dst)
        }
    }

    /// Outcome follows the immune score: PR patients have higher CD8 density designs.
    func testCohortLinksDensityToOutcome() {
        var c = CohortSimulator(panel: Self.panel)
        c.patients = 200
        let pts = c.patientsTable()
        let pr = pts.filter { $0.response == "PR" }.map(\.score), sd = pts.filter { $0.response == "SD" }.map(\.score)
        XCTAssertGreaterThan(pr.reduce(0, +) / Double(pr.count), sd.reduce(0, +) / Double(sd.count) + 0.5)
        XCTAssertTrue(pts.contains { $0.pfsEvent == 0 } && pts.contains { $0.pfsEvent == 1 })
        XCTAssertTrue(pts.allSatisfy { $0.os >= $0.pfs - 1e-9 })
    }
}
