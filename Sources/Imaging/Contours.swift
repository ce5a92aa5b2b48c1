/// The outlines of a mask's regions, along the pixels' edges: polygons whose area is exactly
/// the regions' pixel count, for drawing regions in another program (QuPath annotations).
///
/// The regions are the 4-connected components of the mask (two pixels touching at a corner
/// only are two regions, whose outlines meet at that corner), and each gives one polygon: its
/// outer ring, then one ring per hole. Every ring is simple (no corner twice), as GeoJSON's
/// polygons must be: where a region pinches itself at a corner, the part of the rest it
/// encloses there is a hole touching the outer ring (or another hole) at that corner.
public enum Contours {
    /// A point where an outline turns: pixel corner (x, y) is the top-left corner of pixel (x, y),
    /// so a mask `w` wide has corners x = 0 … w.
    public struct Corner: Equatable, Sendable {
        public var x: Int32, y: Int32
        public init(x: Int32, y: Int32) { self.x = x; self.y = y }
    }

    /// One region: `rings[0]` its outer ring, the others its holes, each ring's corners without
    /// the first repeated at the end. Outer rings go clockwise on screen (y down), which is
    /// counter-clockwise for the y-up convention of GeoJSON (RFC 7946 §3.1.6), holes the other
    /// way round.
    public struct Polygon: Equatable, Sendable {
        public var rings: [[Corner]]
    }

    /// The polygons of the regions of `mask` (pixels that are true), in the raster order of
    /// each region's first pixel.
    public static func polygons(_ mask: Mask) -> [Polygon] {
        let w = mask.width, h = mask.height
        guard w > 0, h > 0 else { return [] }
        // Directed edges with the region on their right on screen: along the top of a region
        // pixel eastward, down its right side, westward along its bottom, up its left side. Each
        // corner keeps the directions of the edges leaving it (bit d: east, south, west, north).
        let cw = w + 1
        var leaving = [UInt8](repeating: 0, count: cw * (h + 1))
        mask.bits.withUnsafeBufferPointer { m in
            @inline(__always) func inside(_ x: Int, _ y: Int) -> Bool { x >= 0 && y >= 0 && x < w && y < h && m[y * w + x] }
            for y in 0..<h {
                for x in 0..<w where m[y * w + x] {
                    if !inside(x, y - 1) { leaving[y * cw + x] |= 1 << 0 }
                    if !inside(x + 1, y) { leaving[y * cw + x + 1] |= 1 << 1 }
                    if !inside(x, y + 1) { leaving[(y + 1) * cw + x + 1] |= 1 << 2 }
                    if !inside(x - 1, y) { leaving[(y + 1) * cw + x] |= 1 << 3 }
                }
            }
        }
        let step: [(dx: Int, dy: Int)] = [(1, 0), (0, 1), (-1, 0), (0, -1)]
        let runs = Labeling.Runs(mask, value: true, eightConnected: false)
        var outer = [[Corner]?](repeating: nil, count: runs.count + 1)
        var holes = [[[Corner]]](repeating: [], count: runs.count + 1)
        for start in leaving.indices where leaving[start] != 0 {
            while leaving[start] != 0 {
                let first = leaving[start].trailingZeroBitCount
                leaving[start] &= ~(1 << first)
                var x = start % cw, y = start / cw
                // The region pixel on the right of the first edge names the ring's component.
                let px = [x, x - 1, x - 1, x][first], py = [y, y, y - 1, y - 1][first]
                let component = Int(runs.component(atX: px, y: py))
                var ring = [Corner(x: Int32(x), y: Int32(y))]
                var d = first
                var twice: Int64 = 0   // twice the signed area (shoelace), from the corners
                while true {
                    x += step[d].dx; y += step[d].dy
                    let v = y * cw + x
                    // Two edges leave where two region pixels meet at this corner only (the
                    // start's own edge counts as leaving). Of two regions, the right turn keeps
                    // to this ring's own pixel: two polygons touching at the corner. Of one
                    // region pinched there, the left turn: its outer ring and a hole, or two
                    // holes, touching at the corner, where the right turn would make one ring
                    // touch itself (not a valid polygon ring for GEOS, which QuPath uses).
                    let available = leaving[v] | (v == start ? 1 << first : 0)
                    var next = available.trailingZeroBitCount
                    if available.nonzeroBitCount == 2 {
                        let a = x > 0 && y > 0 && mask.bits[(y - 1) * w + x - 1]
                        let (p, q) = a ? ((x - 1, y - 1), (x, y)) : ((x, y - 1), (x - 1, y))
                        next = runs.component(atX: p.0, y: p.1) == runs.component(atX: q.0, y: q.1) ? (d + 3) % 4 : (d + 1) % 4
                    }
                    if v == start && next == first {
                        if d == first { ring.removeFirst() }   // the start lies on a straight edge
                        break
                    }
                    leaving[v] &= ~(1 << next)
                    if next != d { ring.append(Corner(x: Int32(x), y: Int32(y))) }
                    d = next
                }
                for k in ring.indices {
                    let a = ring[k], b = ring[(k + 1) % ring.count]
                    twice += Int64(a.x) * Int64(b.y) - Int64(b.x) * Int64(a.y)
                }
                if twice > 0 { outer[component] = ring } else { holes[component].append(ring) }
            }
        }
        return (1..<outer.count).compactMap { c in outer[c].map { Polygon(rings: [$0] + holes[c]) } }
    }
}
