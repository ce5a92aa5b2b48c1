import Foundation
import Segmentation
import SlideIO
import Unmixing

/// Where a marker is read: QuPath's and inForm's compartments, plus `ring`.
public enum Compartment: String, Codable, Sendable, CaseIterable {
    case nucleus, cytoplasm, membrane, cell
    /// The dimmest quarter (by direction from the nucleus centroid) of the cell outside its
    /// nucleus: high only when the stain goes all the way round, as a cell's own membrane does —
    /// a stained neighbour lights one side only. For membrane stains on touching cells (PD-L1 in
    /// tumour nests).
    case ring
}

/// How a marker's positivity threshold is set.
public struct Gate: Codable, Equatable, Sendable {
    public enum Method: String, Codable, Sendable, CaseIterable { case fixed, otsu, percentile }
    public var method: Method
    /// For `fixed`: the threshold on the compartment mean (unmixed abundance units).
    public var threshold: Double?
    /// For `percentile`: cells above this percentile (0–100) of the slide's cell means are positive.
    public var percentile: Double?
    /// Automatic gates never go below this (guards slides with almost no positive cells).
    public var minimum: Double?
    /// Otsu on log(1 + mean) instead of the mean: for markers whose positives span a wide range
    /// of brightness, where Otsu on linear values lands inside the positive class.
    public var log: Bool?

    public init(method: Method, threshold: Double? = nil, percentile: Double? = nil, minimum: Double? = nil, log: Bool? = nil) {
        self.method = method; self.threshold = threshold; self.percentile = percentile; self.minimum = minimum; self.log = log
    }
}

/// One stain the panel measures and gates.
public struct MarkerSpec: Codable, Equatable, Sendable {
    /// Column-safe marker name (CD8, PDL1, panCK…).
    public var name: String
    /// The library component that carries it (e.g. "Opal 570").
    public var component: String
    public var compartment: Compartment
    public var gate: Gate
}

/// A phenotype: cells positive for every `require` marker and negative for every `exclude`.
public struct PhenotypeRule: Codable, Equatable, Sendable {
    public var name: String
    public var require: [String]
    public var exclude: [String]
    public var description: String?

    public init(name: String, require: [String], exclude: [String] = [], description: String? = nil) {
        self.name = name; self.require = require; self.exclude = exclude; self.description = description
    }

    /// Whether a cell with these marker calls has the phenotype.
    public func matches(_ positive: (String) -> Bool) -> Bool {
        require.allSatisfy(positive) && !exclude.contains(where: positive)
    }

    /// The rule with its marker names resolved to indices into `markers`, once, for per-cell use.
    /// A name that is not a marker counts as never positive, as in `matches`.
    public func indexed(by markers: [MarkerSpec]) -> Indexed {
        let index = Dictionary(markers.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        return Indexed(require: require.map { index[$0] ?? -1 }, exclude: exclude.compactMap { index[$0] })
    }

    public struct Indexed: Sendable {
        /// −1 for a required name that is not a marker: the rule then never matches.
        let require: [Int]
        let exclude: [Int]
        /// Whether a cell with these calls (one per marker) has the phenotype.
        public func matches(_ positive: [Bool]) -> Bool {
            require.allSatisfy { $0 >= 0 && positive[$0] } && !exclude.contains { positive[$0] }
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        require = try c.decodeIfPresent([String].self, forKey: .require) ?? []
        exclude = try c.decodeIfPresent([String].self, forKey: .exclude) ?? []
        description = try c.decodeIfPresent(String.self, forKey: .description)
    }
}

/// Tissue, tumour and stroma detection on a low-resolution pass (all lengths µm, areas µm²).
public struct TissueParameters: Codable, Equatable, Sendable {
    /// Working resolution of the tissue pass (µm per pixel), 2–4 µm.
    public var resolutionMicrons: Double = 2
    /// Tissue = smoothed, log-compressed total signal (nuclei + autofluorescence) above Otsu × `tissueOtsuFactor`.
    public var tissueSigmaMicrons: Double = 6
    public var tissueOtsuFactor: Double = 1
    /// The lowest tissue threshold (total light, dark removed, as the map averages it), or nil
    /// for none. A field of glass alone (an empty core of a TMA, a failed scan) has no tissue
    /// class: Otsu's threshold splits the glass's own noise, the two classes lie within 4× of
    /// each other, and the rule for a field covered by tissue made it all tissue. Set it above
    /// the glass's level and below the dimmest tissue's.
    public var tissueThresholdMinimum: Double? = nil
    public var minTissueAreaMicrons2: Double = 5000
    /// Background holes smaller than this inside tissue count as tissue.
    public var fillHolesBelowMicrons2: Double = 2000
    /// With σ > 0, the tissue's edge is also held to the midpoint between glass and the tissue's
    /// own level nearby (a Gaussian-weighted mean over tissue, this σ), not only the slide-wide
    /// threshold, so bright epithelium at the tissue's outline does not widen the tissue. Only
    /// removes pixels, and only within about 3 × `tissueSigmaMicrons` of glass; 0: off.
    public var tissueEdgeSigmaMicrons: Double = 0
    /// Tumour = the tumour marker smoothed by this sigma above its threshold, inside tissue.
    public var tumorMarker: String = "panCK"
    public var tumorSigmaMicrons: Double = 10
    /// Fixed threshold on the smoothed tumour-marker abundance, or nil for automatic: this
    /// fraction of the nests' plateau level (the median of tissue pixels above Otsu's threshold).
    public var tumorThreshold: Double? = nil
    public var tumorEdgeFraction: Double = 0.56
    /// The lowest threshold the automatic rule may give (the same units: the tumour marker's
    /// abundance averaged over tissue), or nil for none. A slide without nests has no plateau:
    /// Otsu's threshold then splits the stroma's own level, and the rule would call most of the
    /// tissue tumour, as it rightly does on a field that is all tumour; only a level the nests
    /// must reach tells the two apart. Set it above the stroma's level and below the nests'.
    public var tumorThresholdMinimum: Double? = nil
    public var minTumorAreaMicrons2: Double = 1000
    /// Stroma islands enclosed by tumour and smaller than this count as tumour (0: off): a few
    /// marker-negative cells together inside a nest leave a dip in the smoothed marker, not stroma.
    public var fillTumorHolesBelowMicrons2: Double = 0
    /// Markers of cells that sit inside nests without the tumour marker (T cells, macrophages,
    /// DCs): their pixels, widened by `tumorExcludeMarginMicrons`, are left out of the tumour
    /// marker's smoothed average, so a lymphocyte in a nest's outer row does not push the edge in.
    public var tumorExcludeMarkers: [String] = []
    public var tumorExcludeMarginMicrons: Double = 4
    /// A cell positive for the tumour marker whose centroid falls in stroma within this distance
    /// of the tumour map counts as tumour-region: the smoothed map rounds a nest's outline, and
    /// its outermost tumour cells belong to the nest (0: off; the areas are the map's either way).
    public var tumorCellSnapMicrons: Double = 0
    /// A cell positive for one of `tumorExcludeMarkers` beside the tumour map (within one map
    /// pixel) counts as tumour-region where the smoothed tumour marker, interpolated at its
    /// centroid, is at least this factor × the tumour threshold (nil: the map's label decides).
    /// Leaving such cells out of the marker's average flattens the edge's profile around them,
    /// so the threshold that puts the area's edge in place cuts them too deep into the nest.
    public var tumorImmuneThresholdFactor: Double? = nil
    /// A cell positive for one of `tumorExcludeMarkers` within this distance of the other side
    /// of the tumour map's edge takes the side whose background (autofluorescence, in the
    /// components of the markers it is negative for) it carries, where the slide's tumour and
    /// stroma backgrounds differ clearly (`EdgeBackground`: levels per slide and per 250 µm
    /// block); 0: off. Before the tumour score's
    /// rule above, which still decides where the backgrounds do not differ. A cell positive for
    /// the tumour marker in stroma, beyond the snap, whose background is the tumour's is
    /// tumour-region wherever it is (a nest too small or too thin for the map).
    public var tumorEdgeBackgroundMicrons: Double = 0

    public init() {}

    /// Values the tissue pass cannot use, one message each.
    public func problems() -> [String] {
        var checks = ParameterChecks(prefix: "tissue.")
        // Sizes are bounded by what tissue can be (areas up to 1000 mm², smoothing up to 0.5 mm):
        // far beyond, a value is a unit mix-up, and kernels or pixel counts would overflow.
        checks.need(resolutionMicrons > 0 && resolutionMicrons <= 100, "resolutionMicrons", "above 0 and at most 100 µm")
        checks.need(tissueSigmaMicrons, in: 0...500, "tissueSigmaMicrons", "µm")
        checks.need(tissueOtsuFactor > 0 && tissueOtsuFactor.isFinite, "tissueOtsuFactor", "above 0")
        if let m = tissueThresholdMinimum { checks.need(m >= 0 && m.isFinite, "tissueThresholdMinimum", "0 or more") }
        checks.need((0...1e9).contains(minTissueAreaMicrons2), "minTissueAreaMicrons2", "0–1e9 µm² (1000 mm²)")
        checks.need((0...1e9).contains(fillHolesBelowMicrons2), "fillHolesBelowMicrons2", "0–1e9 µm² (1000 mm²)")
        checks.need(tissueEdgeSigmaMicrons, in: 0...500, "tissueEdgeSigmaMicrons", "µm")
        checks.need(tumorSigmaMicrons, in: 0...500, "tumorSigmaMicrons", "µm")
        if let t = tumorThreshold { checks.need(t.isFinite, "tumorThreshold", "a number") }
        checks.need(tumorEdgeFraction > 0 && tumorEdgeFraction.isFinite, "tumorEdgeFraction", "above 0")
        if let m = tumorThresholdMinimum { checks.need(m.isFinite, "tumorThresholdMinimum", "a number") }
        checks.need((0...1e9).contains(minTumorAreaMicrons2), "minTumorAreaMicrons2", "0–1e9 µm² (1000 mm²)")
        checks.need((0...1e9).contains(fillTumorHolesBelowMicrons2), "fillTumorHolesBelowMicrons2", "0–1e9 µm² (1000 mm²)")
        checks.need(tumorExcludeMarginMicrons, in: 0...200, "tumorExcludeMarginMicrons", "µm")
        checks.need(tumorCellSnapMicrons, in: 0...200, "tumorCellSnapMicrons", "µm")
        if let f = tumorImmuneThresholdFactor { checks.need(f > 0 && f.isFinite, "tumorImmuneThresholdFactor", "above 0") }
        checks.need(tumorEdgeBackgroundMicrons, in: 0...200, "tumorEdgeBackgroundMicrons", "µm")
        return checks.messages
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TissueParameters()
        resolutionMicrons = try c.decodeIfPresent(Double.self, forKey: .resolutionMicrons) ?? d.resolutionMicrons
        tissueSigmaMicrons = try c.decodeIfPresent(Double.self, forKey: .tissueSigmaMicrons) ?? d.tissueSigmaMicrons
        tissueOtsuFactor = try c.decodeIfPresent(Double.self, forKey: .tissueOtsuFactor) ?? d.tissueOtsuFactor
        tissueThresholdMinimum = try c.decodeIfPresent(Double.self, forKey: .tissueThresholdMinimum)
        minTissueAreaMicrons2 = try c.decodeIfPresent(Double.self, forKey: .minTissueAreaMicrons2) ?? d.minTissueAreaMicrons2
        fillHolesBelowMicrons2 = try c.decodeIfPresent(Double.self, forKey: .fillHolesBelowMicrons2) ?? d.fillHolesBelowMicrons2
        tissueEdgeSigmaMicrons = try c.decodeIfPresent(Double.self, forKey: .tissueEdgeSigmaMicrons) ?? d.tissueEdgeSigmaMicrons
        tumorMarker = try c.decodeIfPresent(String.self, forKey: .tumorMarker) ?? d.tumorMarker
        tumorSigmaMicrons = try c.decodeIfPresent(Double.self, forKey: .tumorSigmaMicrons) ?? d.tumorSigmaMicrons
        tumorThreshold = try c.decodeIfPresent(Double.self, forKey: .tumorThreshold)
        tumorEdgeFraction = try c.decodeIfPresent(Double.self, forKey: .tumorEdgeFraction) ?? d.tumorEdgeFraction
        tumorThresholdMinimum = try c.decodeIfPresent(Double.self, forKey: .tumorThresholdMinimum)
        minTumorAreaMicrons2 = try c.decodeIfPresent(Double.self, forKey: .minTumorAreaMicrons2) ?? d.minTumorAreaMicrons2
        fillTumorHolesBelowMicrons2 = try c.decodeIfPresent(Double.self, forKey: .fillTumorHolesBelowMicrons2) ?? d.fillTumorHolesBelowMicrons2
        tumorExcludeMarkers = try c.decodeIfPresent([String].self, forKey: .tumorExcludeMarkers) ?? d.tumorExcludeMarkers
        tumorExcludeMarginMicrons = try c.decodeIfPresent(Double.self, forKey: .tumorExcludeMarginMicrons) ?? d.tumorExcludeMarginMicrons
        tumorCellSnapMicrons = try c.decodeIfPresent(Double.self, forKey: .tumorCellSnapMicrons) ?? d.tumorCellSnapMicrons
        tumorImmuneThresholdFactor = try c.decodeIfPresent(Double.self, forKey: .tumorImmuneThresholdFactor)
        tumorEdgeBackgroundMicrons = try c.decodeIfPresent(Double.self, forKey: .tumorEdgeBackgroundMicrons) ?? d.tumorEdgeBackgroundMicrons
    }
}

/// Nuclear channel and detection settings.
public struct NucleusSpec: Codable, Equatable, Sendable {
    /// The library component segmented (usually "DAPI").
    public var component: String
    public var parameters: NucleusParameters

    public init(component: String, parameters: NucleusParameters = NucleusParameters()) {
        self.component = component; self.parameters = parameters
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        component = try c.decode(String.self, forKey: .component)
        parameters = try c.decodeIfPresent(NucleusParameters.self, forKey: .parameters) ?? NucleusParameters()
    }
}

/// A panel file: what a lab edits to run its assay (schema in the README).
public struct Panel: Codable, Equatable, Sendable {
    public var name: String
    public var description: String?
    public var library: SpectralLibrary
    public var unmixing: UnmixingMethod
    public var nucleus: NucleusSpec
    public var markers: [MarkerSpec]
    public var phenotypes: [PhenotypeRule]
    public var tissue: TissueParameters

    enum CodingKeys: String, CodingKey { case name, description, library, unmixing, nucleus, markers, phenotypes, tissue }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        library = try c.decode(SpectralLibrary.self, forKey: .library)
        unmixing = try c.decodeIfPresent(UnmixingMethod.self, forKey: .unmixing) ?? .ols
        nucleus = try c.decode(NucleusSpec.self, forKey: .nucleus)
        markers = try c.decodeIfPresent([MarkerSpec].self, forKey: .markers) ?? []
        phenotypes = try c.decodeIfPresent([PhenotypeRule].self, forKey: .phenotypes) ?? []
        tissue = try c.decodeIfPresent(TissueParameters.self, forKey: .tissue) ?? TissueParameters()
    }

    /// Loads and validates; errors are one line naming the file.
    public static func load(_ path: String) throws -> Panel {
        let data = try InputFile.contents(of: path) { PanelError.invalid(path: path, $0) }
        let panel: Panel
        do {
            panel = try JSONDecoder().decode(Panel.self, from: data)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw PanelError.invalid(path: path, "missing \"\(key.stringValue)\" " + (ctx.codingPath.isEmpty ? "at the top level" : "in \(place(ctx.codingPath))"))
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw PanelError.invalid(path: path, "null where a value is needed at \(place(ctx.codingPath))")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw PanelError.invalid(path: path, "wrong type at \(place(ctx.codingPath)) (\(kind(type)) expected)")
        } catch let DecodingError.dataCorrupted(ctx) {
            guard let field = ctx.codingPath.last?.stringValue else {
                throw PanelError.invalid(path: path, "not valid JSON" + (JSONText.problem(data).map { " (\($0))" } ?? ""))
            }
            let why = choices[field].map { "one of " + $0.joined(separator: ", ") } ?? ctx.debugDescription
            throw PanelError.invalid(path: path, "bad value at \(place(ctx.codingPath)) (\(why))")
        } catch {
            throw PanelError.invalid(path: path, "\(error)")
        }
        if let unknown = panel.unknownKey(in: data) { throw PanelError.invalid(path: path, unknown) }
        if let p = panel.problems().first { throw PanelError.invalid(path: path, p) }
        return panel
    }

    /// The first key of the file `data` (decoded as this panel) that the panel does not have: a
    /// misspelt setting would otherwise be ignored and its default used unseen. The keys the
    /// panel has are those it encodes (so they are written down once, in the types' coding
    /// keys); a key starting with "_" is a note and a key set to null an unset optional.
    func unknownKey(in data: Data) -> String? {
        guard let raw = try? JSONSerialization.jsonObject(with: data),
              let known = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(self)) else { return nil }
        func walk(_ raw: Any, _ known: Any, _ at: String) -> String? {
            if let r = raw as? [String: Any], let k = known as? [String: Any] {
                for key in r.keys.sorted() where !key.hasPrefix("_") && !(r[key] is NSNull) {
                    let place = at.isEmpty ? key : at + "." + key
                    guard let inner = k[key] else {
                        let near = k.keys.map { ($0, Self.editDistance(key.lowercased(), $0.lowercased())) }
                            .filter { $0.1 <= 3 }.min { ($0.1, $0.0) < ($1.1, $1.0) }
                        return "unknown key \"\(place)\"" + (near.map { " (did you mean \"\($0.0)\"?)" } ?? "")
                    }
                    if let m = walk(r[key]!, inner, place) { return m }
                }
            } else if let r = raw as? [Any], let k = known as? [Any], r.count == k.count {
                for (i, (a, b)) in zip(r, k).enumerated() { if let m = walk(a, b, "\(at)[\(i)]") { return m } }
            }
            return nil
        }
        return walk(raw, known, "")
    }

    /// Levenshtein distance, for naming the key a misspelt one was meant to be.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)   // distances from a's first i characters to b's first j
        for (i, x) in a.enumerated() {
            var diagonal = row[0]
            row[0] = i + 1
            for (j, y) in b.enumerated() {
                let up = row[j + 1]
                row[j + 1] = min(up + 1, row[j] + 1, diagonal + (x == y ? 0 : 1))
                diagonal = up
            }
        }
        return row[b.count]
    }

    /// A place in the panel as its JSON path (`markers[2].gate.method`).
    static func place(_ path: [CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out
    }

    /// The values the panel's fields of fixed choices take, by field name.
    static let choices: [String: [String]] = ["compartment": Compartment.allCases.map(\.rawValue),
                                              "method": Gate.Method.allCases.map(\.rawValue),
                                              "unmixing": UnmixingMethod.allCases.map(\.rawValue)]

    /// What a JSON value of `type` is called.
    static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Double.Type, is Float.Type, is Int.Type: return "a number"
        case is [Any].Type: return "a list"
        default:
            let name = "\(type)"
            return name.hasPrefix("Array<") ? "a list" : name.hasPrefix("Dictionary<") ? "an object" : "an object (\(name))"
        }
    }

    /// Largest condition number a library may have before unmixing amplifies noise too much.
    public static let maxConditionNumber = 1000.0

    public func problems() -> [String] {
        var out = library.problems()
        if !out.isEmpty { return out }
        let comps = Set(library.components)
        if !comps.contains(nucleus.component) { out.append("nucleus component \"\(nucleus.component)\" is not in the library") }
        let markerNames = Set(markers.map(\.name))
        // A marker's name heads its cell-table columns and keys its threshold: two would be one.
        for (i, m) in markers.enumerated() where markers[..<i].contains(where: { $0.name == m.name }) {
            out.append("two markers share the name \(m.name)")
        }
        for m in markers where !comps.contains(m.component) {
            out.append("marker \(m.name) names component \"\(m.component)\", which the library does not have")
        }
        for m in markers {
            switch m.gate.method {
            case .fixed where m.gate.threshold == nil: out.append("marker \(m.name): a fixed gate needs \"threshold\"")
            case .percentile where !(0...100).contains(m.gate.percentile ?? -1):
                out.append("marker \(m.name): a percentile gate needs \"percentile\" between 0 and 100")
            default: break
            }
        }
        for p in phenotypes {
            for n in p.require + p.exclude where !markerNames.contains(n) {
                out.append("phenotype \(p.name) names marker \(n), which the panel does not define")
            }
            if p.require.isEmpty { out.append("phenotype \(p.name) requires no marker") }
        }
        if Set(phenotypes.map(\.name)).count != phenotypes.count { out.append("two phenotypes share a name") }
        if !markerNames.contains(tissue.tumorMarker) { out.append("tissue.tumorMarker \(tissue.tumorMarker) is not a panel marker") }
        for m in tissue.tumorExcludeMarkers where !markerNames.contains(m) || m == tissue.tumorMarker {
            out.append("tissue.tumorExcludeMarkers: \(m) is \(m == tissue.tumorMarker ? "the tumour marker" : "not a panel marker")")
        }
        out += nucleus.parameters.problems(prefix: "nucleus.parameters.")
        out += tissue.problems()
        if tissue.tumorImmuneThresholdFactor != nil && tissue.tumorExcludeMarkers.isEmpty {
            out.append("tissue.tumorImmuneThresholdFactor needs tissue.tumorExcludeMarkers (the immune markers)")
        }
        let cond = library.conditionNumber
        if !(cond < Panel.maxConditionNumber) {
            out.append(String(format: "the library is singular or ill-conditioned (condition number %.3g, limit %.0f)", cond, Panel.maxConditionNumber))
        }
        return out
    }

    public func componentIndex(_ name: String) -> Int? { library.components.firstIndex(of: name) }
    public func marker(_ name: String) -> MarkerSpec? { markers.first { $0.name == name } }

    /// The slide channel read for each library channel, or, on a slide of unmixed components
    /// (`Slide.isUnmixed`), for each library component: those are read as they are.
    public func channelMap(for slide: Slide) throws -> [Int] {
        try channelMap(slideChannels: slide.channels.map { ($0.name, $0.biomarker) }, path: slide.path, components: slide.isUnmixed)
    }

    /// Slide channel index for every library channel (or component), matched by name or
    /// biomarker (case-insensitive; spaces, '-' and '_' ignored), or by either part of a name
    /// written "marker (fluor)", as inForm names its components ("CD8 (Opal 570)").
    public func channelMap(slideChannels: [(name: String, biomarker: String?)], path: String, components: Bool = false) throws -> [Int] {
        func key(_ s: String) -> String { s.lowercased().filter { !" -_".contains($0) } }
        func keys(_ c: (name: String, biomarker: String?)) -> [String] {
            var out = [key(c.name)] + (c.biomarker.map { [key($0)] } ?? [])
            if c.name.hasSuffix(")"), let open = c.name.lastIndex(of: "(") {
                out += [key(String(c.name[..<open])), key(String(c.name[c.name.index(after: open)..<c.name.index(before: c.name.endIndex)]))]
            }
            return out
        }
        var out: [Int] = []
        for want in components ? library.components : library.channels {
            let k = key(want)
            guard let i = slideChannels.firstIndex(where: { keys($0).contains(k) }) else {
                let have = slideChannels.map(\.name).joined(separator: ", ")
                let what = components ? "unmixed component" : "channel"
                // A file that names no channel (a plain multi-page TIFF): the reader numbered them.
                let unnamed = slideChannels.enumerated().allSatisfy { $1.name == "Channel \($0 + 1)" && $1.biomarker == nil }
                let hint = unnamed ? "; the file names no \(what)s: the panel's library may name them so, in the file's order" : ""
                throw PanelError.mismatch(path: path, "has no \(what) \"\(want)\" that panel \"\(name)\" needs (it has: \(have)\(hint))")
            }
            out.append(i)
        }
        return out
    }
}

public enum PanelError: Error, CustomStringConvertible, LocalizedError {
    case invalid(path: String, String)
    case mismatch(path: String, String)
    public var description: String {
        switch self {
        case .invalid(let p, let m): return "\(p): invalid panel: \(m)"
        case .mismatch(let p, let m): return "\(p): \(m)"
        }
    }
    public var errorDescription: String? { description }
}
