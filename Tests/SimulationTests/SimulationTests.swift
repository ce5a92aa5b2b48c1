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
