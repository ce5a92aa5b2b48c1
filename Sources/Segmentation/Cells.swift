import Imaging

/// Cells grown from nuclei, and the compartments measurements are taken in.
public enum Cells {
    /// Grows every nucleus by `distance` pixels; each background pixel within that distance goes
    /// to its nearest nucleus pixel's label, so neighbours never overlap — the rule of QuPath's
    /// cell expansion and `skimage.segmentation.expand_labels`.
    public static func expand(_ nuclei: LabelImage, distance: Double) -> LabelImage {
        guard distance > 0 else { return nuclei }
        let feature = Mask(width: nuclei.width, height: nuclei.height, bits: nuclei.labels.map { $0 != 0 })
        let (d, idx) = DistanceTransform.nearest(to: feature, limit: Int(distance.rounded(.up)))
        var out = nuclei
        let lim = Float(distance)
        for i in out.labels.indices where out.labels[i] == 0 && d[i] <= lim && idx[i] >= 0 {
            out.labels[i] = nuclei.labels[Int(idx[i])]
        }
        return out
    }

    /// Pixels of each cell that lie within `width` pixels (Chebyshev) of a pixel outside that
    /// cell: the membrane ring.
    public static func membrane(_ cells: LabelImage, width: Int) -> Mask {
        let w = cells.width, h = cells.height
        var m = Mask(width: w, height: h)
        let k = max(1, width)
        cells.labels.withUnsafeBufferPointer { c in
        m.bits.withUnsafeMutableBufferPointer { out in
            for y in 0..<h {
                // A window that leaves the image makes every cell pixel of the row membrane.
                let rowInside = y >= k && y < h - k
                for x in 0..<w {
                    let l = c[y * w + x]
                    if l == 0 { continue }
                    guard rowInside && x >= k && x < w - k else { out[y * w + x] = true; continue }
                    var edge = false
                    outer: for yy in (y - k)...(y + k) {
                        let row = c.baseAddress! + yy * w
                        for xx in (x - k)...(x + k) where row[xx] != l { edge = true; break outer }
                    }
                    if edge { out[y * w + x] = true }
                }
            }
        }
        }
        return m
    }
}
