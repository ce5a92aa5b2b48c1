import Foundation

/// Everything that can go wrong between a user's file and a decoded pixel.
/// Each case carries the path so the message alone tells the user what to fix.
public enum SlideError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String)
    case empty(path: String)
    case notATIFF(path: String, detail: String)
    case truncated(path: String, detail: String)
    case corrupt(path: String, detail: String)
    case unsupported(path: String, detail: String)
    case noPixelSize(path: String)
    case implausiblePixelSize(path: String, micrometres: Double)
    case badRegion(path: String, detail: String)
    case badChannel(path: String, detail: String)
    case writeFailed(path: String, detail: String)
    /// A problem with an input that is not a slide's pixels (a patient map, a results folder).
    case invalid(path: String, detail: String)

    public var description: String {
        switch self {
        case .notFound(let p): return "\(p): no such file"
        case .empty(let p): return "\(p): file is empty (0 bytes)"
        case .notATIFF(let p, let d): return "\(p): not a TIFF file (\(d))"
        case .truncated(let p, let d): return "\(p): file is truncated (\(d))"
        case .corrupt(let p, let d): return "\(p): corrupt TIFF (\(d))"
        case .unsupported(let p, let d): return "\(p): unsupported TIFF layout (\(d))"
        case .noPixelSize(let p):
            return "\(p): the file records no pixel size; give one with --pixel-size (µm per pixel)"
        case .implausiblePixelSize(let p, let um):
            return "\(p): pixel size \(um) µm is outside \(Slide.plausiblePixelSizes.lowerBound)–\(Slide.plausiblePixelSizes.upperBound) µm; check the file's resolution or give one with --pixel-size"
        case .badRegion(let p, let d): return "\(p): bad region (\(d))"
        case .badChannel(let p, let d): return "\(p): \(d)"
        case .writeFailed(let p, let d): return "\(p): cannot write (\(d))"
        case .invalid(let p, let d): return "\(p): \(d)"
        }
    }
}

extension SlideError: LocalizedError {
    public var errorDescription: String? { description }
}
