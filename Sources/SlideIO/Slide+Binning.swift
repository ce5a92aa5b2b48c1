/// Binning: a slide seen at a whole multiple of its pixel size, for finding cells at a
/// requested pixel size (QuPath's `requestedPixelSizeMicrons`).
extension Slide {
    /// This slide seen at a coarser resolution: each level-0 pixel the mean of `factor` ×
    /// `factor` of the file's (fewer at the right and bottom edges), the pixel size `factor`
    /// times the file's, and of the file's pyramid levels those coarser still. The means
    /// are of blocks aligned to the file's origin, so any region gives the same pixels as the
    /// whole level; they are taken from the file's level 0 whether or not it has a pyramid (a
    /// writer's reduced levels may subsample), so a file gives the same pixels either way.
    /// Cells are found and measured at a requested pixel size this way (QuPath's
    /// `requestedPixelSizeMicrons`).
    public func binned(_ factor: Int) -> Slide {
        precondition(binning == 1, "a binned slide is not binned again")
        return factor <= 1 ? self : Slide(binning: factor, of: self)
    }

    /// `read` at a binned level 0: each channel's file region decoded in bands of rows, then
    /// averaged in `binning` × `binning` blocks: the block's rows summed column by column, then
    /// each block's columns. With a block cache the bands are of about `scratchFloats` floats
    /// (1 MB: the float rows are summed while still in the core's cache; a band's blocks come
    /// from the block cache, so narrow bands decode nothing twice): at 2 × 2 on a 40× slide,
    /// 0.18 s less decoding than in 32-MB bands, of 1.9 s at one thread, when quantify's tile
    /// pass still read whole regions (it now reads them in bands of its own, `UnmixedSource`,
    /// narrower than these; `mifq segment` reads whole ones). Without a cache, a block under two
    /// bands would be decoded twice, so the bands are of up to 32 MB (8 M floats).
    func readBinned(channels wanted: [Int], region: PixelRegion, into outputs: [UnsafeMutableBufferPointer<Float>], cache: BlockCache?,
                    scratchFloats: Int? = nil) throws {
        let f = binning
        let x0 = region.x * f, y0 = region.y * f
        let fw = min(region.width * f, fileWidth - x0), fh = min(region.height * f, fileHeight - y0)
        let band = max(1, min(region.height, (scratchFloats ?? (cache == nil ? 8 << 20 : 1 << 18)) / (fw * f)))   // output rows per band
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: band * f * fw)
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: fw)
        defer { scratch.deallocate(); columns.deallocate() }
        // Blocks with all `f` columns; the last may have fewer (at the file's right edge).
        let whole = min(fw / f, region.width)
        for (k, c) in wanted.enumerated() {
            let out = outputs[k].baseAddress!
            for b0 in stride(from: 0, to: region.height, by: band) {
                let b1 = min(b0 + band, region.height)
                let fy0 = b0 * f, fy1 = min(b1 * f, fh)
                try readFile(channels: [c], level: 0, region: PixelRegion(x: x0, y: y0 + fy0, width: fw, height: fy1 - fy0),
                             into: [scratch], cache: cache)
                let src = scratch.baseAddress!
                for y in b0..<b1 {
                    let r0 = y * f - fy0, r1 = min(r0 + f, fy1 - fy0)
                    columns.update(from: src + r0 * fw, count: fw)
                    for r in (r0 + 1)..<max(r0 + 1, r1) {
                        let row = src + r * fw
                        for i in 0..<fw { columns[i] += row[i] }
                    }
                    let o = out + y * region.width
                    let rows = Float(r1 - r0)
                    let n = rows * Float(f)
                    if f == 2 {
                        // The common case (40× at 0.5 µm), in a loop the compiler vectorises.
                        for x in 0..<whole { o[x] = (columns[2 * x] + columns[2 * x + 1]) / n }
                    } else {
                        for x in 0..<whole {
                            var sum: Float = 0
                            for i in (x * f)..<(x * f + f) { sum += columns[i] }
                            o[x] = sum / n
                        }
                    }
                    if whole < region.width {
                        var sum: Float = 0
                        for i in (whole * f)..<fw { sum += columns[i] }
                        o[whole] = sum / (rows * Float(fw - whole * f))
                    }
                }
            }
        }
    }
}
