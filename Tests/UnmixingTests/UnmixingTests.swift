import CBLAS
import Foundation
import XCTest
@testable import Phenotyping
import Simulation
import SlideIO
@testable import Unmixing

final class UnmixingTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var panelPath: String { root.appendingPathComponent("panels/escc-opal7.json").path }
    static func tmp() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("mifq-unmix-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    func testPseudoInverseIsTheInverse() throws {
        let lib = try Panel.load(Self.panelPath).library
        let p = lib.pseudoInverse()
        for i in 0..<7 { for j in 0..<7 {
            var s = 0.0
            for c in 0..<7 { s += p[i][c] * lib.matrix[c][j] }
            XCTAssertEqual(s, i == j ? 1 : 0, accuracy: 1e-12)
        } }
        XCTAssertLessThan(lib.conditionNumber, 3)
    }

    /// Debian 12's OpenBLAS (0.3.21) does not know Intel's Sapphire and Emerald Rapids Xeons
    /// and runs its SSE3 ("Prescott") kernels there, at half the unmixing's speed. Once an
    /// unmixer exists, a CPU with AVX2 and FMA runs kernels made for them (on a Xeon of model
    /// 207 this failed before `mifq_openblas_prefer_cpu_kernels`: "Prescott").
    func testBLASRunsKernelsForThisCPU() throws {
        _ = Unmixer(library: try Panel.load(Self.panelPath).library)
        #if os(Linux) && arch(x86_64)
        let flags = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        guard flags.contains("avx2") && flags.contains("fma") else { throw XCTSkip("this CPU has no AVX2 and FMA") }
        XCTAssertNotEqual(String(cString: openblas_get_corename()).lowercased(), "prescott")
        #else
        throw XCTSkip("OpenBLAS's kernels are chosen this way on x86-64 Linux")
        #endif
    }

    /// Renders the same noiseless slide with the panel's library and with the identity (pure
    /// abundances); OLS on the first must give the second.
    func testOLSRecoversAbundancesWithoutNoise() throws {
        let panel = try Panel.load(Self.panelPath)
        var identity = panel
        identity.library.matrix = (0..<7).map { r in (0..<7).map { $0 == r ? 1 : 0 } }
        var d = SlideDesign()
        d.width = 256; d.height = 256; d.seed = 5
        d.noise = false; d.autofluorescence = false; d.illumination = false
        let dir = Self.tmp()
        var mixed = SlideSimulator(panel: panel, design: d); mixed.writeMasks = false
        try mixed.write(id: "mixed", to: dir, flavour: .ome)
        var pure = SlideSimulator(panel: identity, design: d); pure.writeMasks = false
        try pure.write(id: "pure", to: dir, flavour: .ome)
        let m = try Slide(path: dir.appendingPathComponent("slides/mixed.ome.tif").path)
        let a = try Slide(path: dir.appendingPathComponent("slides/pure.ome.tif").path)
        let r = PixelRegion(x: 0, y: 0, width: 256, height: 256)
        let observed = try (0..<7).map { try m.read(channel: $0, region: r) }
        let truth = try (0..<7).map { try a.read(channel: $0, region: r) }
        let unmixed = Unmixer(library: panel.library).unmix(observed)
        var err = 0.0, norm = 0.0
        for k in 0..<7 { for i in 0..<r.count {
            let e = Double(unmixed[k][i] - truth[k][i]); err += e * e; norm += Double(truth[k][i] * truth[k][i])
        } }
        let rel = (err / norm).squareRoot()
        XCTAssertLessThanOrEqual(rel, 0.01, "relative RMSE \(rel)")
    }

    /// A dark offset is removed exactly (folded into a per-component bias) and the observed
    /// planes are left as they were; checked by hand on a 2×2 library.
    func testDarkOffsetIsRemovedAndInputUntouched() {
        // A = [[1, 0.5], [0, 1]], dark 100: x = (10, 20) → observed (100 + 10 + 10, 100 + 20) = (120, 120);
        // x = (0, 4) → (102, 104); x = (3, 0) → (103, 100).
        let lib = SpectralLibrary(channels: ["a", "b"], components: ["p", "q"], matrix: [[1, 0.5], [0, 1]], darkOffset: 100)
        let observed: [[Float]] = [[120, 102, 103], [120, 104, 100]]
        for method in UnmixingMethod.allCases {
            var flat = observed.flatMap { $0 }
            var out = [Float](repeating: -1, count: 6)
            flat.withUnsafeMutableBufferPointer { o in
                out.withUnsafeMutableBufferPointer { Unmixer(library: lib, method: method).unmix(observed: o.baseAddress!, pixels: 3, out: $0.baseAddress!) }
            }
            XCTAssertEqual(flat, observed.flatMap { $0 }, "\(method): observed modified")
            let expected: [Float] = [10, 0, 3, 20, 4, 0]
            for i in 0..<6 { XCTAssertEqual(out[i], expected[i], accuracy: 1e-4, "\(method) [\(i)]") }
        }
        // Below the dark level OLS goes negative and NNLS clamps: observed (90, 110) → OLS (−15, 10),
        // NNLS: minimise (0.5q − (−10))² + (q − 10)² over q ≥ 0 with p = 0 → q = (−5 + 10)/1.25 = 4.
        var flat: [Float] = [90, 110], out = [Float](repeating: 0, count: 2)
        for (method, expected) in [(UnmixingMethod.ols, [Float(-15), 10]), (.nnls, [0, 4])] {
            flat.withUnsafeMutableBufferPointer { o in
                out.withUnsafeMutableBufferPointer { Unmixer(library: lib, method: method).unmix(observed: o.baseAddress!, pixels: 1, out: $0.baseAddress!) }
            }
            XCTAssertEqual(out[0], expected[0], accuracy: 1e-4, "\(method)")
            XCTAssertEqual(out[1], expected[1], accuracy: 1e-4, "\(method)")
        }
    }

    /// With photon and read noise, NNLS is never further from the truth than OLS and never negative.
    func testNNLSWithNoise() throws {
        let lib = try Panel.load(Self.panelPath).library
        var rng = SplitMix64(seed: 9)
        let n = 4000
        var truth = [[Float]](repeating: [Float](repeating: 0, count: n), count: 7)
        var obs = [[Float]](repeating: [Float](repeating: 0, count: n), count: 7)
        for i in 0..<n {
            for k in 0..<7 { truth[k][i] = rng.uniform() < 0.7 ? 0 : Float(rng.uniform(0, 400)) }
            for c in 0..<7 {
                var v = 0.0
                for k in 0..<7 { v += lib.matrix[c][k] * Double(truth[k][i]) }
                obs[c][i] = Float(v + (v + 9).squareRoot() * rng.normal())
            }
        }
        let ols = Unmixer(library: lib, method: .ols).unmix(obs)
        let nnls = Unmixer(library: lib, method: .nnls).unmix(obs)
        func rmse(_ x: [[Float]]) -> Double {
            var s = 0.0
            for k in 0..<7 { for i in 0..<n { let e = Double(x[k][i] - truth[k][i]); s += e * e } }
            return (s / Double(7 * n)).squareRoot()
        }
        XCTAssertLessThanOrEqual(rmse(nnls), rmse(ols))
        XCTAssertTrue(nnls.allSatisfy { $0.allSatisfy { $0 >= 0 } })
        XCTAssertTrue(ols.contains { $0.contains { $0 < 0 } }, "the test needs pixels where OLS goes negative")
    }

    /// KKT conditions of min ‖Ax − b‖², x ≥ 0: x ≥ 0, gradient ≥ 0 where x = 0, = 0 where x > 0.
    func testNNLSSatisfiesKKT() throws {
        var rng = SplitMix64(seed: 3)
        let m = 7, k = 5
        let a = (0..<m).map { _ in (0..<k).map { _ in rng.uniform() } }
        let lib = SpectralLibrary(channels: (0..<m).map { "c\($0)" }, components: (0..<k).map { "k\($0)" }, matrix: a)
        let u = Unmixer(library: lib, method: .nnls)
        for _ in 0..<200 {
            let b = (0..<m).map { _ in rng.uniform(-1, 2) }
            var solver = NNLSSolver(library: lib, gram: u.gram)
            var x = [Double](repeating: 0, count: k)
            solver.solve(b, into: &x)
            let r = (0..<m).map { c in (0..<k).reduce(0.0) { $0 + a[c][$1] * x[$1] } - b[c] }
            for j in 0..<k {
                let g = (0..<m).reduce(0.0) { $0 + a[$1][j] * r[$1] }
                XCTAssertGreaterThanOrEqual(x[j], 0)
                if x[j] > 1e-12 { XCTAssertEqual(g, 0, accuracy: 1e-9) } else { XCTAssertGreaterThanOrEqual(g, -1e-9) }
            }
        }
    }

    func testLibraryEstimatedFromSingleStainControls() throws {
        let panel = try Panel.load(Self.panelPath)
        var sim = CohortSimulator(panel: panel)
        sim.width = 384; sim.height = 384; sim.seed = 2
        let dir = Self.tmp()
        try sim.writeSingleStain(to: dir)
        let slidesDir = dir.appendingPathComponent("single-stain/slides")
        let files = try FileManager.default.contentsOfDirectory(atPath: slidesDir.path).map { slidesDir.appendingPathComponent($0).path }
        let e = try LibraryEstimator().estimate(slides: files, fluors: panel.library.components, channels: panel.library.channels)
        for k in 0..<7 {
            let a = (0..<7).map { e.library.matrix[$0][k] }, b = (0..<7).map { panel.library.matrix[$0][k] }
            let dot = zip(a, b).map(*).reduce(0, +)
            let cos = dot / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
            XCTAssertLessThanOrEqual(1 - cos, 0.02, "fluor \(panel.library.components[k])")
        }
        // A missing control is named, with the folder it was looked for in.
        let noUnstained = files.filter { !$0.hasSuffix("unstained.ome.tif") }
        XCTAssertThrowsError(try LibraryEstimator().estimate(slides: noUnstained, fluors: panel.library.components,
                                                             channels: panel.library.channels, folder: slidesDir.path)) {
            XCTAssertEqual("\($0)", "\(slidesDir.path): has no unstained control slide (a file named unstained.* or autofluorescence.*)")
        }
        let noOpal570 = files.filter { !$0.hasSuffix("Opal570.ome.tif") }
        XCTAssertThrowsError(try LibraryEstimator().estimate(slides: noOpal570, fluors: panel.library.components,
                                                             channels: panel.library.channels, folder: slidesDir.path)) {
            XCTAssertEqual("\($0)", "\(slidesDir.path): has no single-stain slide for Opal 570 (a file named Opal570.*)")
        }
    }

    func testBadPanelsGiveOneLineErrors() throws {
        let good = try String(contentsOfFile: Self.panelPath, encoding: .utf8)
        let dir = Self.tmp()
        func check(_ edit: (String) -> String, _ expect: String) {
            let p = dir.appendingPathComponent("p\(UUID().uuidString).json").path
            XCTAssertNotEqual(edit(good), good, "the edit for \(expect) changes nothing")
            _ = FileManager.default.createFile(atPath: p, contents: Data(edit(good).utf8))
            XCTAssertThrowsError(try Panel.load(p)) { e in
                let m = "\(e)"
                XCTAssertTrue(m.hasPrefix(p), m)
                XCTAssertTrue(m.contains(expect), "\(m) lacks \(expect)")
                XCTAssertFalse(m.contains("\n"))
            }
        }
        check({ $0.replacingOccurrences(of: "[0.00, 0.00, 0.00, 0.00, 0.01, 0.06, 1.00]", with: "[0.00, 0.00, 0.00, 0.00, 0.01, 0.06]") },
              "row 6 (Opal 780) has 6 values")
        check({ $0.replacingOccurrences(of: "\"require\": [\"PDL1\", \"panCK\"]", with: "\"require\": [\"PDL1\", \"EpCAM\"]") },
              "phenotype PDL1_tumor names marker EpCAM")
        check({ $0.replacingOccurrences(of: "[0.00, 0.00, 0.00, 0.00, 0.01, 0.06, 1.00]", with: "[0.00, 0.00, 0.00, 0.02, 0.12, 1.00, 0.05]") },
              "ill-conditioned (condition number")
        check({ $0.replacingOccurrences(of: "\"component\": \"Opal 570\"", with: "\"component\": \"Opal 575\"") },
              "marker CD8 names component \"Opal 575\"")
        check({ _ in "{ not json" }, "not valid JSON (line 1, column 3: invalid value)")
        // A comma left out at the end of line 19 (counted by hand: the next key opens line 20
        // at its third column), a byte-order mark before it not counted.
        check({ $0.replacingOccurrences(of: "\"unmixing\": \"ols\",", with: "\"unmixing\": \"ols\"") },
              "not valid JSON (line 20, column 3: invalid value)")
        check({ "\u{FEFF}" + $0.replacingOccurrences(of: "\"unmixing\": \"ols\",", with: "\"unmixing\": \"ols\"") },
              "not valid JSON (line 20, column 3: invalid value)")
        check({ $0 + "," }, "not valid JSON")
        // A key the panel does not have (a misspelt setting would keep its default unseen),
        // named by its JSON path with the nearest key there; notes ("_…") and nulls pass.
        check({ $0.replacingOccurrences(of: "\"backgroundRadiusMicrons\"", with: "\"backgroundRadiusMicron\"") },
              "invalid panel: unknown key \"nucleus.parameters.backgroundRadiusMicron\" (did you mean \"backgroundRadiusMicrons\"?)")
        check({ $0.replacingOccurrences(of: "\"compartment\": \"cytoplasm\"", with: "\"compartment\": \"cytoplasm\", \"Gate\": 3") },
              "unknown key \"markers[0].Gate\" (did you mean \"gate\"?)")
        check({ $0.replacingOccurrences(of: "\"unmixing\": \"ols\",", with: "\"unmixing\": \"ols\", \"scanner\": \"Polaris\",") },
              "unknown key \"scanner\"")
        let notes = dir.appendingPathComponent("notes.json").path
        _ = FileManager.default.createFile(atPath: notes, contents: Data(good.replacingOccurrences(
            of: "\"unmixing\": \"ols\",", with: "\"unmixing\": \"ols\", \"_note\": \"from the 2024 run\", \"description\": null,").utf8))
        XCTAssertEqual(try Panel.load(notes), try Panel.load(Self.panelPath))
        XCTAssertEqual(Panel.editDistance("backgroundRadiusMicron", "backgroundRadiusMicrons"), 1)
        XCTAssertEqual(Panel.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(Panel.editDistance("", "abc"), 3)
        check({ $0.replacingOccurrences(of: "{\"name\": \"CD11c\", \"component\": \"Opal 520\"", with: "{\"name\": \"CD68\", \"component\": \"Opal 520\"") },
              "two markers share the name CD68")
        // Fields named by their JSON path, with what was expected.
        check({ $0.replacingOccurrences(of: "\"compartment\": \"cytoplasm\"", with: "\"compartment\": \"cyto\"") },
              "bad value at markers[0].compartment (one of nucleus, cytoplasm, membrane, cell, ring)")
        check({ $0.replacingOccurrences(of: "\"method\": \"otsu\"", with: "\"method\": \"Otsu\"") },
              "bad value at markers[0].gate.method (one of fixed, otsu, percentile)")
        check({ $0.replacingOccurrences(of: "\"unmixing\": \"ols\"", with: "\"unmixing\": \"OLS\"") },
              "bad value at unmixing (one of ols, nnls)")
        check({ $0.replacingOccurrences(of: "\"otsuFactor\": 0.6", with: "\"otsuFactor\": \"0.6\"") },
              "wrong type at nucleus.parameters.otsuFactor (a number expected)")
        check({ $0.replacingOccurrences(of: "\"require\": [\"PDL1\", \"panCK\"]", with: "\"require\": \"PDL1\"") },
              "wrong type at phenotypes[")
        check({ $0.replacingOccurrences(of: "\"nucleus\": {", with: "\"nucleus\": null, \"n\": {") },
              "null where a value is needed at nucleus")
        check({ $0.replacingOccurrences(of: "\"nucleus\": {", with: "\"nuclei\": {") }, "missing \"nucleus\" at the top level")
        check({ $0.replacingOccurrences(of: "\"tumorExcludeMarkers\": [\"CD8\"", with: "\"tumorExcludeMarkers\": [\"CD3\"") },
              "tissue.tumorExcludeMarkers: CD3 is not a panel marker")
        check({ $0.replacingOccurrences(of: "\"tumorImmuneThresholdFactor\": 0.95", with: "\"tumorImmuneThresholdFactor\": -1") },
              "tissue.tumorImmuneThresholdFactor must be above 0")
        check({ $0.replacingOccurrences(of: "\"tumorExcludeMarkers\": [\"CD8\", \"CD4\", \"CD68\", \"CD11c\"]", with: "\"tumorExcludeMarkers\": []") },
              "tissue.tumorImmuneThresholdFactor needs tissue.tumorExcludeMarkers")
        check({ $0.replacingOccurrences(of: "\"tumorCellSnapMicrons\": 8", with: "\"tumorCellSnapMicrons\": -8") },
              "tissue.tumorCellSnapMicrons must be 0–200 µm")
        check({ $0.replacingOccurrences(of: "\"tumorSigmaMicrons\": 8", with: "\"tumorSigmaMicrons\": -8") },
              "tissue.tumorSigmaMicrons must be 0–500 µm")
        check({ $0.replacingOccurrences(of: "\"resolutionMicrons\": 2", with: "\"resolutionMicrons\": 0") },
              "tissue.resolutionMicrons must be above 0 and at most 100 µm")
        check({ $0.replacingOccurrences(of: "\"minTumorAreaMicrons2\": 1000", with: "\"minTumorAreaMicrons2\": 1000, \"fillTumorHolesBelowMicrons2\": -1") },
              "tissue.fillTumorHolesBelowMicrons2 must be 0–1e9 µm² (1000 mm²)")
        check({ $0.replacingOccurrences(of: "\"seedSigmaMicrons\": 2", with: "\"seedSigmaMicrons\": 0") },
              "nucleus.parameters.seedSigmaMicrons must be above 0 and at most 20 µm")
        check({ $0.replacingOccurrences(of: "\"maxAreaMicrons\": 400", with: "\"maxAreaMicrons\": 5") },
              "nucleus.parameters.maxAreaMicrons must be above minAreaMicrons")
        check({ $0.replacingOccurrences(of: "\"otsuFactor\": 0.6", with: "\"otsuFactor\": 0") },
              "nucleus.parameters.otsuFactor must be above 0")
        check({ $0.replacingOccurrences(of: "\"requestedPixelSizeMicrons\": 0.5", with: "\"requestedPixelSizeMicrons\": 500") },
              "nucleus.parameters.requestedPixelSizeMicrons must be 0.05–20 µm")
        // Sizes far beyond tissue's (a unit mix-up) are refused before they become halos,
        // kernels or pixel counts (these crashed, hung or asked for 32 GB before the bounds).
        check({ $0.replacingOccurrences(of: "\"backgroundRadiusMicrons\": 8", with: "\"backgroundRadiusMicrons\": 1e308") },
              "nucleus.parameters.backgroundRadiusMicrons must be 0–100 µm")
        check({ $0.replacingOccurrences(of: "\"localWindowMicrons\": 10", with: "\"localWindowMicrons\": 1e9") },
              "nucleus.parameters.localWindowMicrons must be 0–200 µm")
        check({ $0.replacingOccurrences(of: "\"maxAreaMicrons\": 400", with: "\"maxAreaMicrons\": 1e12") },
              "nucleus.parameters.maxAreaMicrons must be above minAreaMicrons and at most 10000 µm²")
        check({ $0.replacingOccurrences(of: "\"tumorSigmaMicrons\": 8", with: "\"tumorSigmaMicrons\": 1e9") },
              "tissue.tumorSigmaMicrons must be 0–500 µm")
        check({ $0.replacingOccurrences(of: "\"minTissueAreaMicrons2\": 5000", with: "\"minTissueAreaMicrons2\": 1e308") },
              "tissue.minTissueAreaMicrons2 must be 0–1e9 µm² (1000 mm²)")
        // A slide lacking a panel channel.
        let panel = try Panel.load(Self.panelPath)
        XCTAssertThrowsError(try panel.channelMap(slideChannels: [("DAPI", nil), ("Opal 480", nil)], path: "s.tif")) {
            XCTAssertTrue("\($0)".hasPrefix("s.tif: has no channel \"Opal 520\""), "\($0)")
        }
        // Components named as inForm names them, "marker (fluor)", in another order, with an
        // autofluorescence component; a channel matched by its biomarker; a name in parentheses
        // that is not a whole part does not match.
        let inForm: [(name: String, biomarker: String?)] = [
            ("Autofluorescence", nil), ("CD8 (Opal 570)", nil), ("DAPI", nil), ("CD68 (Opal 480)", nil), ("x", "Opal 520"),
            ("PD-L1 (Opal 620)", nil), ("CD4 (Opal 690)", nil), ("panCK (Opal 780)", nil)]
        XCTAssertEqual(try panel.channelMap(slideChannels: inForm, path: "c.tif", components: true), [2, 3, 4, 1, 5, 6, 7])
        XCTAssertThrowsError(try panel.channelMap(slideChannels: [("DAPI", nil), ("CD68 (Opal 48)", nil)], path: "c.tif", components: true)) {
            XCTAssertTrue("\($0)".hasPrefix("c.tif: has no unmixed component \"Opal 480\""), "\($0)")
        }
    }
}
