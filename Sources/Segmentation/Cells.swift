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
        // Differences accumulate in a row buffer, one offset at a time, so every loop is a
        // straight vectorisable pass along a row.
        let diff = UnsafeMutablePointer<Int32>.allocate(capacity: w)
        defer { diff.deallocate() }
        cells.labels.withUnsafeBufferPointer { cb in
        segment.withUnsafeMutableBufferPointer { sb in
        m.bits.withUnsafeMutableBufferPointer { ob in ob.withMemoryRebound(to: UInt8.self) { ob in
            let c = cb.baseAddress!, seg = sb.baseAddress!, out = ob.baseAddress!
            if w > 2 * k {
                let inner = w - 2 * k
                for y in 0..<h {
                    let row = c + y * w + k, srow = seg + y * w + k
                    diff.update(repeating: 0, count: inner)
                    for d in 1...k {
                        let left = row - d, right = row + d
                        for x in 0..<inner { diff[x] |= (left[x] ^ row[x]) | (right[x] ^ row[x]) }
                    }
                    for x in 0..<inner { srow[x] = diff[x] == 0 ? row[x] : -1 }
                }
            }
            for y in 0..<h {
                let row = c + y * w, orow = out + y * w
                // A window that leaves the image makes every cell pixel of the row membrane.
                guard y >= k && y < h - k else {
                    for x in 0..<w { orow[x] = row[x] != 0 ? 1 : 0 }
                    continue
                }
                diff.update(repeating: 0, count: w)
                for yy in (y - k)...(y + k) {
                    let srow = seg + yy * w
                    for x in 0..<w { diff[x] |= srow[x] ^ row[x] }
                }
                for x in 0..<w { orow[x] = row[x] != 0 && diff[x] != 0 ? 1 : 0 }
            }
        } }
        }
        }
        return m
    }
}
