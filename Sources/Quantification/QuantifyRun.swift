import Foundation
import Phenotyping
import Segmentation
import SlideIO
import Tissue

/// Per-slide marker thresholds set by hand (`quantify --gates`): slide id → marker → threshold,
/// in the units of the thresholds a slide's result records (the gated compartment's mean).
public enum GateOverrides {
    /// Reads a `slide_id,marker,threshold` CSV (other columns ignored). Slide ids may be given
    /// as file names (`P01_A.ome.tif`), as in the patient map. A marker the panel does not gate,
    /// a threshold that is not a finite number, and a slide given two thresholds for one marker
    /// are errors naming the file and the line.
    public static func load(_ path: String, panel: Panel) throws -> [String: [String: Double]] {
        let (rows, at, decimalComma) = try SlideInputs.columns(path, "slide_id", "marker", "threshold")
        let si = at[0], mi = at[1], ti = at[2]
        let markers = panel.markers.map(\.name)
        var out: [String: [String: Double]] = [:]
        for (n, f) in rows {
            let slide = SlideInputs.slideId(for: f[si]), marker = f[mi]
            guard !slide.isEmpty else { throw SlideError.invalid(path: path, detail: "line \(n): slide_id is empty") }
            guard markers.contains(marker) else {
                throw SlideError.invalid(path: path, detail: "line \(n): the panel has no marker \(CSVText.shown(marker)) "
                                            + "(it gates \(markers.joined(separator: ", ")))")
            }
            guard let t = CSVText.number(f[ti], decimalComma: decimalComma) else {
                throw SlideError.invalid(path: path, detail: "line \(n): threshold \(CSVText.shown(f[ti])) is not a finite number")
            }
            if let earlier = out[slide]?[marker], earlier != t {
                throw SlideError.invalid(path: path, detail: "line \(n): slide \(CSVText.shown(slide)) is given two \(marker) thresholds "
                                            + "(\(earlier) and \(t))")
            }
            out[slide, default: [:]][marker] = t
        }
        return out
    }
}

/// A whole quantify run: every slide in turn, its tiles on every thread (small slides side by
/// side instead, the threads shared out among them), a bad slide reported and skipped, tables
/// rebuilt from every per-slide result in the output folder.
public struct QuantifyRun {
    public let panel: Panel
    public let panelPath: String
    public let options: QuantifyOptions
    public let outDir: URL
    public var resume = false
    /// Thresholds set by hand per slide (`GateOverrides`); a slide's other markers keep the
    /// panel's gates.
    public var gates: [String: [String: Double]] = [:]
    /// A folder of annotation files (`annotationFiles(in:)`: QuPath GeoJSON or HALO
    /// `.annotations`, by slide id); a slide without one is quantified whole.
    public var annotationsDir: URL?

    public init(panel: Panel, panelPath: String, options: QuantifyOptions, outDir: URL) {
        self.panel = panel; self.panelPath = panelPath; self.options = options; self.outDir = outDir
    }

    public struct Failure: Codable, Sendable { public var slide: String; public var error: String }

    public struct Summary: Sendable {
        public var results: [SlideResult]
        public var failures: [Failure]
        public var skipped: [String]
        /// Slides in the tables from earlier runs into the folder, not among this run's inputs.
        public var earlier: [String] = []
        /// Slides this run quantified (not skipped, not failed).
        public var quantified: Int { results.count - skipped.count - earlier.count }
        /// What the user should know about the output folder: temporary files an interrupted
        /// run left (removed), results left out of the tables (unreadable, or another panel's).
        public var notes: [String] = []
    }

    /// What a slide's result gives the user notice of: annotations that leave no tissue, no
    /// tissue found, an automatic tumour threshold the map could not decide, light at the
    /// camera's ceiling over `SlideResult.saturationNoteFraction` of the tissue in some channel,
    /// pixels too coarse for nuclei.
    static func notes(for r: SlideResult, tumorMarker: String) -> [String] {
        var out: [String] = []
        if let coarse = NucleusParameters.tooCoarse(pixelSizeUm: r.analysisPixelSizeUm ?? r.pixelSizeUm) {
            out.append("\(r.slideId): \(coarse)")
        }
        if let a = r.annotations, r.tissueAreaMm2 == 0, a.removedTissueMm2 > 0 {
            out.append("\(a.file): the annotations leave no tissue on \(r.slideId) (coordinates are in the slide's level-0 pixels)")
        }
        if r.tissueAreaMm2 == 0, r.annotations == nil {
            out.append("\(r.slideId): no tissue found (its densities are NA)")
        }
        if r.tumorThresholdUndecided == true {
            out.append("\(r.slideId): the automatic tumour threshold (\(r.tumorThreshold.map { String(format: "%.4g", $0) } ?? "none")) "
                       + "lies within the tissue's own \(tumorMarker) level, not between it and nests: the slide is "
                       + "all tumour or has none, which the map cannot tell; the panel's tissue.tumorThresholdMinimum decides")
        }
        let saturated = r.saturatedChannels
        if !saturated.isEmpty {
            out.append("\(r.slideId): saturated light (samples at the camera's ceiling) over "
                       + saturated.map { String(format: "%.3g%% of the tissue in %@ (at %g)", 100 * ($0.fractionOfTissue ?? 0), $0.channel, $0.level) }
                          .joined(separator: ", ")
                       + ": the components unmixed from clipped light are too low there")
        }
        return out
    }

    /// FNV-1a 64 of the panel file's bytes, for provenance in run.json and slide results.
    public static func hash(_ data: Data) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in data { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return String(format: "%016llx", h)
    }

    /// Quantifies `inputs` into the output folder; `report` gets each failed slide's error,
    /// `progress` (label, done, total, unit) the tiles of each slide run on every thread, or the
    /// slides of those run side by side.
    public func run(_ inputs: [SlideInput], report: (String) -> Void,
                    progress: ((_ label: String, _ done: Int, _ total: Int, _ unit: String) -> Void)? = nil) throws -> Summary {
        let fm = FileManager.default
        try AtomicFile.createFolder(outDir.appendingPathComponent("slides"), named: outDir)
        guard fm.isWritableFile(atPath: outDir.path) else { throw SlideError.writeFailed(path: outDir.path, detail: "output folder is not writable") }
        var notes: [String] = []
        let leftovers = TemporaryFiles.removeLeftovers(in: outDir)
        if leftovers > 0 { notes.append("removed \(leftovers) temporary file(s) an interrupted run had left in \(outDir.path)") }
        let panelData = fm.contents(atPath: panelPath) ?? Data()
        let hash = QuantifyRun.hash(panelData)
        let quantifier = SlideQuantifier(panel: panel, panelHash: hash, options: options)
        var failures: [Failure] = []
        var skipped: [String] = []
        var timings: [String: Double] = [:]
        let started = Date()
        // Slides an option names that are not inputs (one job per slide, workflow/Snakefile, is
        // given the whole gates file and annotations folder: the list stays short).
        func notInputs(_ ids: some Collection<String>, _ what: String, _ unit: String) {
            let extra = Set(ids).subtracting(inputs.map(\.slideId)).sorted()
            guard !extra.isEmpty else { return }
            notes.append("\(what) \(extra.count) \(unit) not among the inputs: " + SlideInputs.shortList(extra))
        }
        notInputs(gates.keys, "--gates names", "slide(s)")
        let annotationFiles = try annotationsDir.map { try QuantifyRun.annotationFiles(in: $0) } ?? [:]
        notInputs(annotationFiles.keys, "--annotations has", "file(s) for slides")
        // run.json keeps the notes from here on, about the slides and the tables, not those about
        // this command's options (one job per slide, given the whole gates file, would list the
        // cohort's other slides) or the folder's leftovers.
        let recordedNotes = notes.count
        func resultURL(_ input: SlideInput) -> URL { outDir.appendingPathComponent("slides").appendingPathComponent("\(input.slideId).json") }
        var pending: [(order: Int, input: SlideInput)] = []
        // Under --resume, the slides whose saved result cannot stand, by what changed, and those
        // the patient map now gives to another patient (nothing quantified depends on it).
        var again: [(reason: String, slides: [String])] = []
        var moved: [String] = []
        for (k, input) in inputs.enumerated() {
            let saved = resume ? resumable(input, resultURL: resultURL(input), hash: hash, gates: gates[input.slideId] ?? [:],
                                           annotations: annotationFiles[input.slideId]) : .none
            switch saved {
            case .complete(var r):
                if r.patientId != input.patientId {
                    moved.append("\(input.slideId) (\(r.patientId) → \(input.patientId))")
                    r.patientId = input.patientId
                    try QuantifyRun.save(r, to: resultURL(input))
                }
                skipped.append(input.slideId)
            case .none: pending.append((k, input))
            case .stale(let reason):
                pending.append((k, input))
                if let i = again.firstIndex(where: { $0.reason == reason }) { again[i].slides.append(input.slideId) } else { again.append((reason, [input.slideId])) }
            }
        }
        for (reason, slides) in again {
            notes.append("--resume: \(slides.count) slide(s) quantified again, \(reason): " + SlideInputs.shortList(slides))
        }
        if !moved.isEmpty {
            notes.append("--resume: \(moved.count) slide(s) kept, given to the patient the map now names: "
                         + SlideInputs.shortList(moved, separator: ", "))
        }
        // What the slides' runs report, kept in the inputs' order whichever finishes first.
        let lock = NSLock()
        var failed: [(order: Int, failure: Failure)] = []
        func quantifyOne(_ order: Int, _ input: SlideInput, with quantifier: SlideQuantifier, progress: ((Int, Int) -> Void)?) {
            let url = resultURL(input)
            // Taken before the slide is read: a file replaced during the run is run again.
            let stamp = SlideResult.FileStamp(path: input.path)
            do {
                let annotations = try annotationFiles[input.slideId].map { try AnnotationFile(path: $0) }
                var r = try quantifier.quantify(path: input.path, slideId: input.slideId, patientId: input.patientId, outDir: outDir,
                                                gates: gates[input.slideId] ?? [:], annotations: annotations) { progress?($0, $1) }
                r.path = input.path
                r.file = stamp
                try QuantifyRun.save(r, to: url)
                lock.lock(); defer { lock.unlock() }
                // Points, lines, rulers: drawn in the viewer, but no region to count in or leave out.
                if let a = annotations, a.annotations.otherFeatures > 0 {
                    notes.append("\(input.slideId): \(a.annotations.otherFeatures) annotation(s) in \(a.path) that are not regions (points, lines) left out")
                }
                notes += QuantifyRun.notes(for: r, tumorMarker: panel.tissue.tumorMarker)
                timings[input.slideId] = r.seconds
            } catch {
                let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                // A failed slide leaves none of its files: those it wrote before the failure (a
                // cell table before its QC picture) and an earlier run's, which no longer match.
                for file in QuantifyRun.slideFiles(input.slideId) { try? fm.removeItem(at: outDir.appendingPathComponent(file)) }
                lock.lock(); defer { lock.unlock() }
                failed.append((order, Failure(slide: input.path, error: message)))
                report(message)
            }
        }
        // A slide of a few tiles keeps few threads busy (a 1024² slide is one tile, and its map,
        // nucleus threshold and picture are one thread's work): such slides run side by side,
        // the threads shared out among them (one each when there are as many slides as
        // threads), larger ones one after another on every thread. A slide's result does not
        // depend on its thread count, so neither do the tables. Small slides do not give freed
        // memory back between phases (their peak is small; the trims cost time, and side by
        // side each took what the other slide was about to reuse). (Under MIFQ_TIMING, whose
        // stage times are the process's, slides run one at a time.)
        let together = !StageTimes.enabled
        var small: [(order: Int, input: SlideInput)] = [], large: [(order: Int, input: SlideInput)] = []
        for p in pending {
            if together && QuantifyRun.isSmall(p.input.path, options: options, nucleus: panel.nucleus.parameters) { small.append(p) } else { large.append(p) }
        }
        if !small.isEmpty {
            let workers = min(options.threads, small.count)
            var shared = options
            shared.threads = max(1, options.threads / workers)
            shared.giveMemoryBack = false
            let sideBySide = SlideQuantifier(panel: panel, panelHash: hash, options: shared)
            var next = 0, finished = 0
            let label = "\(small.count) small slide(s) side by side"
            progress?(label, 0, small.count, "slides")
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    lock.lock()
                    let k = next
                    next += 1
                    lock.unlock()
                    guard k < small.count else { return }
                    quantifyOne(small[k].order, small[k].input, with: sideBySide, progress: nil)
                    lock.lock()
                    finished += 1
                    progress?(label, finished, small.count, "slides")
                    lock.unlock()
                }
            }
        }
        for p in large {
            quantifyOne(p.order, p.input, with: quantifier) { progress?(p.input.slideId, $0, $1, "tiles") }
        }
        failures = failed.sorted { $0.order < $1.order }.map(\.failure)
        // Tables from every result in the folder made with this panel (earlier runs included),
        // like `mifq merge`: another panel's gates and rules make densities that do not compare.
        let all = try CohortTables.loadResults(in: outDir) { notes.append("\($0): not a mifq slide result, left out of the tables") }
        let results = all.filter { $0.panelHash == hash }
        let others = all.filter { $0.panelHash != hash }.map(\.slideId)
        if !others.isEmpty {
            notes.append("\(others.count) slide result(s) in \(outDir.path)/slides were made with another panel and are left out "
                         + "of the tables (re-run them, or use another output folder): \(others.joined(separator: " "))")
        }
        // Earlier runs' slides stay in the tables (a cohort may be quantified a batch at a time),
        // but a slide taken out of the inputs would otherwise stay in them unseen.
        let inputIds = Set(inputs.map(\.slideId))
        let earlier = results.map(\.slideId).filter { !inputIds.contains($0) }
        if !earlier.isEmpty {
            notes.append("\(earlier.count) slide result(s) of earlier runs in \(outDir.path)/slides, not among this run's inputs, are in the "
                         + "tables (delete a slide's slides/<slide>.json to leave it out, or use another output folder): " + SlideInputs.shortList(earlier))
        }
        // A slide skipped under --resume is in the tables: what its saved result says is said again.
        let skippedSet = Set(skipped)
        for r in results where skippedSet.contains(r.slideId) { notes += QuantifyRun.notes(for: r, tumorMarker: panel.tissue.tumorMarker) }
        let phenos = CohortTables.phenotypes(of: results, preferred: panel.phenotypes.map(\.name))
        try CohortTables.writeTables(results, phenotypes: phenos, to: outDir)
        if options.writeQC { try QCImage.writeKey(phenotypes: panel.phenotypes.map(\.name), in: outDir) }
        let runInfo = RunInfo(results: results, mifqVersion: mifqVersion, panel: panelPath, panelName: panel.name, panelHash: hash,
                              secondsPerSlide: timings, totalSeconds: Date().timeIntervalSince(started),
                              threads: options.threads, tile: options.tileSize, errors: failures, resumedSkipped: skipped,
                              notes: Array(notes[recordedNotes...]))
        try AtomicFile.write(String(decoding: try CohortTables.encoder().encode(runInfo), as: UTF8.self),
                             to: outDir.appendingPathComponent("run.json"))
        return Summary(results: results, failures: failures, skipped: skipped, earlier: earlier, notes: notes)
    }

    /// Whether a slide is small enough to run beside others: fewer level-0 tiles than 4 per
    /// thread (a slide that cannot be opened is not: it fails on its own). At two threads a
    /// cohort of 1024² slides (one tile each) ran 2.3× faster side by side and one of 2048²
    /// slides (four) 1.26×, while one of 4096² slides (sixteen tiles, which keep two threads
    /// busy) ran only 5% faster for 1.9× the peak memory (736 against 390 MB).
    static func isSmall(_ path: String, options: QuantifyOptions, nucleus: NucleusParameters) -> Bool {
        guard let slide = try? SlideQuantifier.analysisSlide(path: path, options: options, nucleus: nucleus) else { return false }
        let t = options.tileSize
        return ((slide.width + t - 1) / t) * ((slide.height + t - 1) / t) < 4 * options.threads
    }

    /// Annotation files in a folder by slide id: `<slide_id>.geojson` or `<slide_id>.json`
    /// (QuPath), `<slide_id>.annotations` (HALO), or the image file's name with any of them
    /// (`P01_A.ome.tif.geojson`, `P01_A.qptiff.annotations`); two for one slide is an error.
    public static func annotationFiles(in dir: URL) throws -> [String: String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue,
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
            throw SlideError.invalid(path: dir.path, detail: "--annotations needs a folder of <slide_id>.geojson (or HALO .annotations) files")
        }
        var out: [String: String] = [:]
        for name in names.sorted() where !name.hasPrefix(".") {
            let lower = name.lowercased()
            guard let ext = [".geojson", ".json", ".annotations"].first(where: { lower.hasSuffix($0) }) else { continue }
            // `P01_A.geojson` or, named after the image file, `P01_A.ome.tif.geojson`.
            let id = SlideInputs.slideId(for: String(name.dropLast(ext.count)))
            if let other = out[id] {
                throw SlideError.invalid(path: dir.path, detail: "two annotation files for slide \(id): \((other as NSString).lastPathComponent) and \(name)")
            }
            out[id] = dir.appendingPathComponent(name).path
        }
        return out
    }

    /// The files a slide's quantification writes in the output folder, its result (`slides/`)
    /// first; after it the QC picture and the QuPath objects (which `merge` copies with the
    /// cell table).
    public static func slideFiles(_ id: String) -> [String] {
        ["slides/\(id).json", "cells/\(id).csv"] + slideExtras(id)
    }

    /// The QC picture and the QuPath objects of a slide, where written.
    public static func slideExtras(_ id: String) -> [String] { ["qc/\(id).png", "cells/\(id).geojson", "regions/\(id).geojson"] }

    /// What `--resume` finds for a slide: a result that stands (made with this panel, these
    /// hand-set thresholds, this annotation file, this slide file at this pixel size, with every file the run
    /// asks for: cell table, QC picture, QuPath objects), none, or one made under something that
    /// has changed since, or without a file now asked for (what, for a note).
    enum Saved { case complete(SlideResult), none, stale(String) }

    /// Writes a slide's result (`slides/<slide>.json`).
    static func save(_ r: SlideResult, to url: URL) throws {
        try AtomicFile.write(String(decoding: try CohortTables.encoder().encode(r), as: UTF8.self), to: url)
    }

    func resumable(_ input: SlideInput, resultURL: URL, hash: String, gates: [String: Double], annotations: String?) -> Saved {
        guard let data = FileManager.default.contents(atPath: resultURL.path) else { return .none }
        guard let r = try? JSONDecoder().decode(SlideResult.self, from: data) else { return .stale("their saved results could not be read") }
        guard r.panelHash == hash else { return .stale("their results were made with another panel") }
        guard (r.gateOverrides ?? [:]) == gates else { return .stale("their hand-set thresholds changed") }
        guard r.annotations?.hash == annotations.map({ QuantifyRun.hash(FileManager.default.contents(atPath: $0) ?? Data()) }) else {
            return .stale("their annotation files changed")
        }
        guard let file = r.file else { return .stale("their results do not record the slide file (written before mifq kept it)") }
        guard file == SlideResult.FileStamp(path: input.path) else { return .stale("their slide files changed (size or modification time)") }
        // The pixel size they were quantified at: the file's, or --pixel-size's (a wrong one
        // corrected, or dropped, changes every area and density).
        guard (options.pixelSizeUm ?? (try? Slide(path: input.path))?.filePixelSizeUm) == r.pixelSizeUm else {
            return .stale("their pixel size changed (--pixel-size)")
        }
        let exists = { (path: String) in FileManager.default.fileExists(atPath: self.outDir.appendingPathComponent(path).path) }
        // A run without cell tables or pictures (--no-cells, --no-qc) resumed by one that wants them.
        if options.writeCells, !(r.cellsTable.map(exists) ?? false) { return .stale("their cell tables are missing") }
        if options.writeQC, !exists("qc/\(r.slideId).png") { return .stale("their QC pictures are missing") }
        if options.writeGeoJSON, !exists("cells/\(r.slideId).geojson") { return .stale("their QuPath cell objects are missing") }
        if options.writeRegions, !exists("regions/\(r.slideId).geojson") { return .stale("their region objects are missing") }
        return .complete(r)
    }

    struct RunInfo: Codable {
        var mifqVersion: String
        var panel: String
        var panelName: String
        var panelHash: String
        var slides: [String]
        var thresholds: [String: [String: Double?]]
        /// Slide → marker → threshold, for the slides given thresholds by hand.
        var gateOverrides: [String: [String: Double]]
        /// Slide → annotation file, for the slides quantified within drawn regions.
        var annotations: [String: String]
        var secondsPerSlide: [String: Double]
        var totalSeconds: Double
        /// Nil in a merged folder whose runs recorded none.
        var threads: Int?
        var tile: Int?
        var errors: [Failure]
        var resumedSkipped: [String]
        /// What the run said in notes (stderr) about its slides and tables: slides without tissue,
        /// saturated light, slides quantified again and why, earlier runs' slides in the tables…;
        /// the report lists them.
        var notes: [String]

        enum CodingKeys: String, CodingKey {
            case mifqVersion = "mifq_version", panel, panelName = "panel_name", panelHash = "panel_hash", slides, thresholds
            case gateOverrides = "gate_overrides", annotations
            case secondsPerSlide = "seconds_per_slide", totalSeconds = "total_seconds", threads, tile, errors
            case resumedSkipped = "resumed_skipped", notes
        }
    }
}

extension QuantifyRun.RunInfo {
    /// A run's record of `results`: their slides, thresholds, hand-set thresholds and
    /// annotation files, with the rest as given.
    init(results: [SlideResult], mifqVersion: String, panel: String, panelName: String, panelHash: String,
         secondsPerSlide: [String: Double], totalSeconds: Double, threads: Int?, tile: Int?, errors: [QuantifyRun.Failure], resumedSkipped: [String],
         notes: [String]) {
        self.init(mifqVersion: mifqVersion, panel: panel, panelName: panelName, panelHash: panelHash,
                  slides: results.map(\.slideId), thresholds: Dictionary(uniqueKeysWithValues: results.map { ($0.slideId, $0.thresholds) }),
                  gateOverrides: Dictionary(uniqueKeysWithValues: results.compactMap { r in
                      r.gateOverrides.flatMap { $0.isEmpty ? nil : (r.slideId, $0) } }),
                  annotations: Dictionary(uniqueKeysWithValues: results.compactMap { r in r.annotations.map { (r.slideId, $0.file) } }),
                  secondsPerSlide: secondsPerSlide, totalSeconds: totalSeconds, threads: threads, tile: tile,
                  errors: errors, resumedSkipped: resumedSkipped, notes: notes)
    }
}

/// A slide's annotation file: where it is, the hash of its bytes, and its polygons.
public struct AnnotationFile: Sendable {
    public let path: String
    public let hash: String
    public let annotations: Annotations

    /// HALO's `.annotations` XML, or GeoJSON (QuPath) for any other name; the file is read once
    /// for both its polygons and its hash.
    public init(path: String) throws {
        let data = try InputFile.contents(of: path) { Annotations.ReadError(path: path, detail: $0) }
        annotations = try path.lowercased().hasSuffix(".annotations") ? HaloAnnotations.parse(data, path: path)
                                                                       : Annotations.parse(data, path: path)
        self.path = path
        hash = QuantifyRun.hash(data)
    }
}
