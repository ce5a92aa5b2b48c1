import Foundation

/// A one-line progress bar on stderr, redrawn in place; silent with --quiet or when stderr is
/// not a terminal (then one line at the end).
final class Progress {
    let label: String
    let quiet: Bool
    let start = Date()
    private let tty = isatty(2) != 0
    private var last = Date.distantPast

    init(label: String, quiet: Bool) { self.label = label; self.quiet = quiet }

    func update(_ done: Int, of total: Int, unit: String = "tiles") {
        guard !quiet, tty else { return }
        let now = Date()
        guard now.timeIntervalSince(last) > 0.1 || done == total else { return }
        last = now
        let frac = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let rate = Double(done) / max(now.timeIntervalSince(start), 1e-3)
        let line = "\r\(label) \(bar) \(done)/\(total) \(unit) \(String(format: "%.1f", rate))/s"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard !quiet else { return }
        let t = String(format: "%.1f s", Date().timeIntervalSince(start))
        FileHandle.standardError.write(Data(((tty ? "\r\u{1B}[K" : "") + "\(label) done in \(t)\n").utf8))
    }
}
