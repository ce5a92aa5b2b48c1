import ArgumentParser
import Foundation
import Phenotyping
import Quantification

struct Quantify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Phenotype cells and measure densities (cells/mm²) in tissue, tumour and stroma.",
        discussion: """
        Writes DIR/cells/<slide>.csv, DIR/slides/<slide>.json, DIR/slides.csv, DIR/densities.csv (per patient), \
        DIR/thresholds.csv, DIR/qc/<slide>.png and DIR/run.json (and QuPath objects: DIR/cells/<slide>.geojson, \
        DIR/regions/<slide>.geojson). A slide that fails is reported and the others still run; the exit code is 1 \
        when any slide failed.
        """)

    @Argument(help: "Slides, or folders searched recursively for .tif/.tiff/.qptiff/.ome.tif.")
    var inputs: [String]

    @Option(help: "Panel file.")
    var panel: String

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Tile edge in pixels (results do not depend on it).")
    var tile = 1024

    @Option(help: "CSV with slide_id,patient_id (default: the slide name before its first '_').")
    var patients: String?

    @Option(help: ArgumentHelp("CSV with slide_id,marker,threshold: thresholds set by hand for some slides' markers, used instead of the panel's gates.",
                               discussion: "In the units of the thresholds DIR/slides/<slide>.json records (the gated compartment's mean)."))
    var gates: String?

    @Option(help: ArgumentHelp("Folder of annotation files, <slide_id>.geojson (QuPath's GeoJSON export) or <slide_id>.annotations (HALO), in level-0 pixels: tissue outside the annotated regions, and inside regions classified Ignore*/Exclude* or HALO negative regions, is left out.",
                               discussion: "A file may also be named after the image file (P01_A.ome.tif.geojson). A slide without a file is quantified whole."))
    var annotations: String?

    @Option(help: "Pixel size in µm for slides that record none (overrides every slide's).")
    var pixelSize: Double?

    @Flag(help: "Skip slides whose outputs are complete (same panel, --gates, annotation file, slide file and pixel size); say why the others run again.")
    var resume = false

    @Flag(help: "Do not write per-cell tables.")
    var noCells = false

    @Flag(help: "Do not write QC pictures.")
    var noQc = false

    @Flag(help: "Also write every cell as a QuPath detection: DIR/cells/<slide>.geojson (points at the nuclei, classified by phenotype).")
    var cellsGeojson = false

    @Flag(help: "Also write the tumour and stroma regions as QuPath annotations: DIR/regions/<slide>.geojson (the region map's outlines, level-0 pixels).")
    var regionsGeojson = false

    @OptionGroup var common: RunOptions

    func validate() throws { try Check.tile(tile); try Check.pixelSize(pixelSize) }

    func run() throws {
        let summary: QuantifyRun.Summary
        do {
            let p = try Panel.load(panel)
            let map = try patients.map(SlideInputs.patientMap)
            let slides = try SlideInputs.find(inputs, patientMap: map)
            if let patients, let map, case let missing = SlideInputs.unmapped(slides, in: map), !missing.isEmpty {
                note("\(patients) has no row for \(missing.count) slide(s), whose patient is taken from the file name: "
                     + SlideInputs.shortList(missing))
            }
            guard !slides.isEmpty else { throw ValidationError("no slides found in \(inputs.joined(separator: " "))") }
            var options = QuantifyOptions()
            options.threads = common.workers; options.tileSize = tile
            options.writeCells = !noCells; options.writeQC = !noQc; options.writeGeoJSON = cellsGeojson; options.writeRegions = regionsGeojson; options.pixelSizeUm = pixelSize
            var run = QuantifyRun(panel: p, panelPath: panel, options: options, outDir: URL(fileURLWithPath: out))
            run.resume = resume
            run.gates = try gates.map { try GateOverrides.load($0, panel: p) } ?? [:]
            run.annotationsDir = annotations.map { URL(fileURLWithPath: $0) }
            var bar: Progress?
            var current = ""
            summary = try run.run(slides, report: { msg in
                bar?.finish(); bar = nil
                FileHandle.standardError.write(Data("mifq: error: \(msg)\n".utf8))
            }, progress: { slide, done, total, unit in
                // A new bar for each slide (or for the small slides run side by side), and again
                // after an error line ended the bar.
                if slide != current || bar == nil { bar?.finish(); current = slide; bar = Progress(label: slide, quiet: common.quiet) }
                bar?.update(done, of: total, unit: unit)
            })
            bar?.finish()
        } catch {
            fail(error)
        }
        for n in summary.notes { note(n) }
        let earlier = summary.earlier.isEmpty ? "" : ", \(summary.earlier.count) from earlier runs"
        print("\(summary.quantified) slide(s) quantified, \(summary.failures.count) failed, \(summary.skipped.count) skipped\(earlier) → \(out)/densities.csv")
        if !summary.failures.isEmpty { throw ExitCode(1) }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild slides.csv, densities.csv and thresholds.csv from the per-slide results of several quantify runs.",
        discussion: """
        Also writes DIR/run.json: the merged slides, the runs' panel and settings, and the slides the runs failed on (named on stderr; \
        they are not in the tables, and the merge itself succeeds).
        """)

    @Argument(help: "Output folders of quantify runs.")
    var dirs: [String]

    @Option(help: "Folder for the merged tables.")
    var out: String

    @Flag(help: "Join slides quantified with different panels (their densities may not compare).")
    var allowMixedPanels = false

    func run() throws {
        do {
            let s = try MergeRuns.merge(dirs.map { URL(fileURLWithPath: $0) }, into: URL(fileURLWithPath: out), mixedPanels: allowMixedPanels)
            // The runs' failures were theirs (each said so with its exit code); the merge passes
            // them on (stderr, run.json, the report) and succeeds.
            for f in s.failures { note("not in the tables, its quantify run failed: \(f.error)") }
            print("\(s.merged) slide(s) merged" + (s.failures.isEmpty ? "" : ", \(s.failures.count) failed in their runs") + " → \(out)/densities.csv")
        } catch {
            fail(error)
        }
    }
}
