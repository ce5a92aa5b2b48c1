import Foundation
import SlideIO
import Tissue

/// Regions drawn in HALO (Indica Labs), from its `.annotations` XML: `<Annotations>`, layers of
/// `<Annotation>`, each with `<Region Type=… NegativeROA=…>` and `<Vertices><V X= Y=/>…`, in
/// level-0 pixels. Polygons, rectangles (two corners) and ellipses (two corners of the bounding
/// box, drawn with 64 vertices) are regions: positive ones, in every layer, are the tissue
/// analysed, negative ones (`NegativeROA="1"`, HALO's exclusions) are taken out. Rulers and pins
/// are not regions and are left out.
public enum HaloAnnotations {
    static let ellipseVertices = 64

    /// From the file's bytes (`path` names it in errors).
    public static func parse(_ data: Data, path: String) throws -> Annotations {
        func fail(_ d: String) -> Annotations.ReadError { Annotations.ReadError(path: path, detail: d) }
        guard let root = XML.parse(XML.decode(Array(data))), root.localName == "Annotations" else {
            throw fail("is not a HALO annotation file (no <Annotations> root element)")
        }
        var out = Annotations()
        for (k, region) in root.descendants("Region").enumerated() {
            let what = "region \(k + 1)"
            var points: [(x: Double, y: Double)] = []
            for v in region.child("Vertices")?.children.filter({ $0.localName == "V" }) ?? [] {
                guard let x = v.attributes["X"].flatMap(Double.init), let y = v.attributes["Y"].flatMap(Double.init),
                      x.isFinite, y.isFinite else { throw fail("\(what): a vertex is not a pair of numbers") }
                guard Annotations.plausible(x, y) else { throw fail("\(what): a vertex lies beyond ±10⁹ pixels") }
                points.append((x, y))
            }
            let ring: [(x: Double, y: Double)]
            switch region.attributes["Type"] ?? "Polygon" {
            case "Polygon":
                guard points.count >= 3 else { throw fail("\(what): a polygon with fewer than 3 vertices") }
                ring = points
            case "Rectangle":
                guard points.count >= 2 else { throw fail("\(what): a rectangle needs two corners") }
                let (a, b) = (points[0], points[1])
                ring = [a, (a.x, b.y), b, (b.x, a.y)]
            case "Ellipse":
                guard points.count >= 2 else { throw fail("\(what): an ellipse needs the two corners of its box") }
                let (a, b) = (points[0], points[1])
                let (cx, cy, rx, ry) = ((a.x + b.x) / 2, (a.y + b.y) / 2, abs(b.x - a.x) / 2, abs(b.y - a.y) / 2)
                ring = (0..<ellipseVertices).map { i in
                    let t = 2 * Double.pi * Double(i) / Double(ellipseVertices)
                    return (cx + rx * cos(t), cy + ry * sin(t))
                }
            default:
                out.otherFeatures += 1      // Ruler, Pin, …
                continue
            }
            if region.attributes["NegativeROA"] == "1" {
                out.exclude.append(Annotations.Polygon(rings: [ring]))
            } else {
                out.include.append(Annotations.Polygon(rings: [ring]))
            }
        }
        guard !out.include.isEmpty || !out.exclude.isEmpty else { throw fail("holds no Polygon, Rectangle or Ellipse region") }
        return out
    }
}
