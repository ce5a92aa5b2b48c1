import Foundation
import SlideIO

/// Regions a pathologist drew on a slide, from a GeoJSON file as QuPath exports them ("Export
/// objects as GeoJSON": polygon coordinates in level-0 pixels). Polygons whose classification
/// names an exclusion (`Ignore*`, `Exclude…`, `Exclusion…`, any case: QuPath's convention for
/// folds, necrosis, pen marks) are taken out of tissue; the others, when there are any, are the
/// only tissue analysed. Applied to the region map (each map pixel by its centre, or by the
/// centre of its part on the slide where it reaches past the slide's edge), so areas and the
/// cells counted (by the map pixel under their centroid) agree.
public struct Annotations: Sendable {
    /// One polygon: its exterior ring and its holes, in level-0 pixels (x, y).
    public struct Polygon: Sendable {
        public let rings: [[(x: Double, y: Double)]]
        /// The rows it spans, so that a map row outside them skips its edges.
        let yMin: Double, yMax: Double
        public init(rings: [[(x: Double, y: Double)]]) {
            self.rings = rings
            let ys = rings.joined().map(\.y)
            yMin = ys.min() ?? 0; yMax = ys.max() ?? 0
        }
    }

    public var include: [Polygon] = []
    public var exclude: [Polygon] = []
    /// Features with a geometry that is not a polygon (points, lines), left out.
    public var otherFeatures = 0

    public init(include: [Polygon] = [], exclude: [Polygon] = []) {
        self.include = include; self.exclude = exclude
    }

    public struct ReadError: Error, LocalizedError {
        public let path: String, detail: String
        public init(path: String, detail: String) { self.path = path; self.detail = detail }
        public var errorDescription: String? { "\(path): \(detail)" }
    }

    /// Whether a point can be a slide's pixel position (no slide is 10⁹ pixels wide; beyond it
    /// the rasteriser's arithmetic would overflow).
    public static func plausible(_ x: Double, _ y: Double) -> Bool { abs(x) <= 1e9 && abs(y) <= 1e9 }

    /// Whether a classification name marks an exclusion.
    public static func isExclusion(_ name: String?) -> Bool {
        guard let n = name?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return n.hasPrefix("ignore") || n.hasPrefix("exclu")
    }

    /// Reads a FeatureCollection, an array of features, one feature, or a bare geometry.
    public static func read(_ path: String) throws -> Annotations {
        let data = try InputFile.contents(of: path) { ReadError(path: path, detail: $0) }
        return try parse(data, path: path)
    }

    /// The same from the file's bytes (`path` names it in errors).
    public static func parse(_ data: Data, path: String) throws -> Annotations {
        func fail(_ d: String) -> ReadError { ReadError(path: path, detail: d) }
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch {
            throw fail("is not JSON (GeoJSON annotations expected): " + (JSONText.problem(data) ?? "not an object or array"))
        }
        var features: [[String: Any]] = []
        if let list = root as? [Any] {
            features = list.compactMap { $0 as? [String: Any] }
            guard features.count == list.count else { throw fail("holds an array whose items are not all GeoJSON features") }
        } else if let object = root as? [String: Any] {
            switch object["type"] as? String {
            case "FeatureCollection":
                guard let list = object["features"] as? [Any] else { throw fail("is a FeatureCollection without a \"features\" array") }
                features = list.compactMap { $0 as? [String: Any] }
                guard features.count == list.count else { throw fail("has features that are not JSON objects") }
            case "Feature": features = [object]
            default: features = [["type": "Feature", "geometry": object]]
            }
        } else {
            throw fail("is not a GeoJSON object")
        }
        var out = Annotations()
        for (k, f) in features.enumerated() {
            let what = "feature \(k + 1)"
            let properties = f["properties"] as? [String: Any]
            // QuPath: properties.classification.name (0.2 and later) or a plain string.
            let classification = (properties?["classification"] as? [String: Any])?["name"] as? String
                ?? properties?["classification"] as? String
            guard let geometry = f["geometry"] as? [String: Any] else {
                if f["geometry"] is NSNull { out.otherFeatures += 1; continue }
                throw fail("\(what) has no geometry")
            }
            let polygons = try Self.polygons(geometry, what: what, fail: fail)
            if polygons.isEmpty { out.otherFeatures += 1; continue }
            if isExclusion(classification) { out.exclude += polygons } else { out.include += polygons }
        }
        guard !out.include.isEmpty || !out.exclude.isEmpty else { throw fail("holds no Polygon or MultiPolygon") }
        return out
    }

    static func polygons(_ g: [String: Any], what: String, fail: (String) -> ReadError) throws -> [Polygon] {
        func ring(_ any: Any) throws -> [(x: Double, y: Double)] {
            guard let pts = any as? [Any] else { throw fail("\(what): a ring is not a list of points") }
            var r: [(x: Double, y: Double)] = []
            for p in pts {
                guard let xy = p as? [Any], xy.count >= 2, let x = (xy[0] as? NSNumber)?.doubleValue, let y = (xy[1] as? NSNumber)?.doubleValue,
                      x.isFinite, y.isFinite else { throw fail("\(what): a point is not a pair of numbers") }
                guard Self.plausible(x, y) else { throw fail("\(what): a point lies beyond ±10⁹ pixels") }
                r.append((x, y))
            }
            guard r.count >= 3 else { throw fail("\(what): a ring has fewer than 3 points") }
            return r
        }
        func polygon(_ any: Any) throws -> Polygon {
            guard let rings = any as? [Any], !rings.isEmpty else { throw fail("\(what): a polygon without rings") }
            return Polygon(rings: try rings.map(ring))
        }
        switch g["type"] as? String {
        case "Polygon":
            return [try polygon(g["coordinates"] as Any)]
        case "MultiPolygon":
            guard let list = g["coordinates"] as? [Any] else { throw fail("\(what): MultiPolygon without coordinates") }
            return try list.map(polygon)
        case "GeometryCollection":
            guard let list = g["geometries"] as? [Any] else { throw fail("\(what): GeometryCollection without geometries") }
            return try list.flatMap { item -> [Polygon] in
                guard let sub = item as? [String: Any] else { throw fail("\(what): a geometry is not a JSON object") }
                return try polygons(sub, what: what, fail: fail)
            }
        case .some: return []      // Point, LineString, …: not a region
        case nil: throw fail("\(what): a geometry without a type")
        }
    }

    /// Marks in `row` (one map row, `row.count` pixels of `scale` level-0 pixels each) the
    /// pixels whose centres lie inside any of `polygons` (even–odd within a polygon, so holes
    /// are out; union across polygons); the last pixel's centre is `lastCentre`.
    static func fill(_ polygons: [Polygon], y: Double, scale: Double, lastCentre: Double, row: inout [Bool]) {
        var xs: [Double] = []
        for p in polygons where y >= p.yMin && y <= p.yMax {
            xs.removeAll(keepingCapacity: true)
            for r in p.rings {
                var a = r[r.count - 1]
                for b in r {
                    if (a.y <= y) != (b.y <= y) {
                        let x = a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y)
                        if x.isFinite { xs.append(x) }
                    }
                    a = b
                }
            }
            xs.sort()
            let last = row.count - 1
            var k = 0
            while k + 1 < xs.count {
                // Pixel i's centre (i + 0.5)·scale in [x0, x1), the last pixel's on its own.
                let i0 = Int(min(max((xs[k] / scale - 0.5).rounded(.up), 0), Double(last)))
                let i1 = Int(min(max((xs[k + 1] / scale - 0.5).rounded(.up), 0), Double(last)))
                if i0 < i1 { for i in i0..<i1 { row[i] = true } }
                if xs[k] <= lastCentre && lastCentre < xs[k + 1] { row[last] = true }
                k += 2
            }
        }
    }

    /// Sets to background the map pixels outside the included polygons (when there are any) and
    /// inside the excluded ones. Returns the map pixels of tissue it took out. `binning`: the
    /// file's level-0 pixels per level-0 pixel of the slide the map was made on (`Slide.binning`;
    /// the polygons are in the file's).
    @discardableResult
    public func apply(to map: inout RegionMap, binning: Int = 1) -> Int {
        var removed = 0
        var inside = [Bool](repeating: false, count: map.width), out = inside
        let scale = map.scale * Double(binning)
        // A map pixel of the last column or row can reach past the slide: it is sampled at the
        // centre of its part on the slide (the polygons of `RegionMap.outlines` stop at its edge).
        func centre(_ i: Int, _ full: Int) -> Double { (Double(i) * scale + min(Double(i + 1) * scale, Double(full * binning))) / 2 }
        let lastX = centre(map.width - 1, map.fullWidth)
        for j in 0..<map.height {
            let y = centre(j, map.fullHeight)
            if !include.isEmpty {
                for i in inside.indices { inside[i] = false }
                Self.fill(include, y: y, scale: scale, lastCentre: lastX, row: &inside)
            }
            if !exclude.isEmpty {
                for i in out.indices { out[i] = false }
                Self.fill(exclude, y: y, scale: scale, lastCentre: lastX, row: &out)
            }
            for i in 0..<map.width where map.labels[j * map.width + i] != RegionMap.background {
                if (!include.isEmpty && !inside[i]) || (!exclude.isEmpty && out[i]) {
                    map.labels[j * map.width + i] = RegionMap.background
                    removed += 1
                }
            }
        }
        return removed
    }
}
