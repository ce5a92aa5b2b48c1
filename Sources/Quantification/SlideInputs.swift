import Foundation
import SlideIO

/// A slide to quantify and the patient it belongs to.
public struct SlideInput: Sendable, Equatable {
    public var path: String
    public var slideId: String
    public var patientId: String
}

/// Turns the command line's files and folders into slides (recursive search for .tif, .tiff,
/// .qptiff, .ome.tif, .ome.tiff), with patients from a map or the file-name prefix before "_".
public enum SlideInputs {
    static let extensions = [".ome.tiff", ".ome.tif", ".qptiff", ".tiff", ".tif"]

    public static func slideId(for path: String) -> String {
        let name = (path as NSString).lastPathComponent
        for e in extensions where name.lowercased().hasSuffix(e) { return String(name.dropLast(e.count)) }
        return name
    }

    public static func find(_ inputs: [String], patientMap: [String: String]?) throws -> [SlideInput] {
        var files: [String] = []
        let fm = FileManager.default
        for input in inputs {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: input, isDirectory: &isDir) else { throw SlideError.notFound(path: input) }
            if isDir.boolValue {
                guard let e = fm.enumerator(atPath: input) else { continue }
                var found: [String] = []
                for case let rel as String in e {
                    let low = rel.lowercased()
                    if (rel as NSString).lastPathComponent.hasPrefix(".") { continue }
                    if extensions.contains(where: { low.hasSuffix($0) }) { found.append((input as NSString).appendingPathComponent(rel)) }
                }
                files += found.sorted()
            } else {
                files.append(input)
            }
        }
        var seen = Set<String>()
        var out: [SlideInput] = []
        for f in files {
            let id = slideId(for: f)
            guard seen.insert(id).inserted else { throw SlideError.invalid(path: f, detail: "slide id \(id) appears twice in the inputs") }
            let patient = patientMap?[id] ?? String(id.split(separator: "_", maxSplits: 1).first ?? Substring(id))
            out.append(SlideInput(path: f, slideId: id, patientId: patient))
        }
        return out
    }

    /// Slide ids (or entries naming them) for a one-line note: the first five, then "…".
    public static func shortList(_ ids: [String], separator: String = " ") -> String {
        ids.prefix(5).joined(separator: separator) + (ids.count > 5 ? separator + "…" : "")
    }

    /// The slides `map` has no row for: their patient is the file name's prefix, which a map
    /// was given to replace (a slide id mistyped in it would otherwise pass unseen).
    public static func unmapped(_ slides: [SlideInput], in map: [String: String]) -> [String] {
        slides.map(\.slideId).filter { map[$0] == nil }
    }

    /// Reads a `slide_id,patient_id` CSV (other columns ignored). A slide listed twice, or
    /// without a patient, is an error: a density would silently go to the wrong patient.
    public static func patientMap(_ path: String) throws -> [String: String] {
        let (rows, at, _) = try columns(path, "slide_id", "patient_id")
        let si = at[0], pi = at[1]
        var map: [String: String] = [:]
        for (n, f) in rows {
            let slide = SlideInputs.slideId(for: f[si])
            guard !slide.isEmpty, !f[pi].isEmpty else {
                throw SlideError.invalid(path: path, detail: "line \(n): slide_id and patient_id must both be given")
            }
            if let earlier = map[slide], earlier != f[pi] {
                throw SlideError.invalid(path: path, detail: "slide \(CSVText.shown(slide)) is given to patients "
                                            + "\(CSVText.shown(earlier)) and \(CSVText.shown(f[pi]))")
            }
            map[slide] = f[pi]
        }
        return map
    }

    /// The records after a small CSV's header (each with its line), where the named columns
    /// are in it (other columns ignored), and whether its numbers have a decimal comma (a
    /// semicolon-separated file). A missing file or column, or a record too short to hold them,
    /// is an error naming the file.
    static func columns(_ path: String, _ names: String...) throws -> (rows: [(line: Int, fields: [String])], at: [Int], decimalComma: Bool) {
        let (records, separator) = try CSVText.file(path) { SlideError.invalid(path: path, detail: $0) }
        let header = records.first?.fields ?? []
        let at = names.compactMap { header.firstIndex(of: $0) }
        guard at.count == names.count else {
            throw SlideError.invalid(path: path, detail: "needs columns " + names.dropLast().joined(separator: ", ") + " and " + names.last!)
        }
        for (n, f) in records.dropFirst() where f.count <= at.max()! {
            throw SlideError.invalid(path: path, detail: "line \(n) has too few fields")
        }
        return (Array(records.dropFirst()), at, separator == ";")
    }
}
