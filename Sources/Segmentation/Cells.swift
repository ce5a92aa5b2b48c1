import Imaging

/// Cells grown from nuclei, and the compartments measurements are taken in.
public enum Cells {
    /// Grows every nucleus by `distance` pixels; each background pixel within that distance goes
    /// to its nearest nucleus pixel's label, so neighbours never overlap — the rule of QuPath's
    /// cell expansion and `skimage.segmentation.expand_labels`.
    public static func expand(_ nuclei: LabelImage, distance: Double) -> LabelImage {
        DistanceTransform.grow(nuclei, distance: distance)
    }

    /// Pixels of each cell that lie within `width` pixels (Chebyshev) of a pixel outside that
    /// cell, or of the image's edge: the membrane ring.
    ///
    /// Separable: a pixel's (2k+1)² window holds only its own label when each of the window's
    /// rows does, so a row pass keeps, per pixel, the label when its row segment [x − k, x + k]
    /// lies in the image and holds one label (−1 otherwise), and a column pass compares the
    /// 2k + 1 of those above and below with the pixel's label. Differences are or-ed (XOR), not
    /// branched on, so both passes vectorise.
    public static func membrane(_ cells: LabelImage, width: Int) -> Mask {
        let w = cells.width, h = cells.height
        var m = Mask(width: w, height: h)
        let k = max(1, width)
        guard w > 0, h > 0 else { return m }
        var segment = [Int32](repeating: -1, count: w * h)
        cells.labels.withUnsafeBufferPointer { cb in
        segment.withUnsafeMutableBufferPointer { sb in
        m.bits.withUnsafeMutableBufferPointer { ob in ob.withMemoryRebound(to: UInt8.self) { ob in
            let c = cb.baseAddress!, seg = sb.baseAddress!, out = ob.baseAddress!
            if w > 2 * k {
                for y in 0..<h {
                    let row = c + y * w, srow = seg + y * w
                    for x in k..<(w - k) {
                        let l = row[x]
                        var diff: Int32 = 0
                        for d in 1...k { diff |= (row[x - d] ^ l) | (row[x + d] ^ l) }
                        srow[x] = diff == 0 ? l : -1
                    }
                }
            }
            for y in 0..<h {
                let row = c + y * w, orow = out + y * w
                // A window that leaves the image makes every cell pixel of the row membrane.
                guard y >= k && y < h - k else {
                    for x in 0..<w { orow[x] = row[x] != 0 ? 1 : 0 }
                    continue
                }
                for x in 0..<w {
                    let l = row[x]
                    var diff: Int32 = 0
                    for yy in (y - k)...(y + k) { diff |= seg[yy * w + x] ^ l }
                    orow[x] = l != 0 && diff != 0 ? 1 : 0
                }
            }
        } }
        }
        }
        return m
    }
}
