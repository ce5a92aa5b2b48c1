import ArgumentParser
import CPUCheck
import Foundation
import SlideIO
import Unmixing
#if canImport(Glibc)
import CMalloc
#endif

@main
struct Mifq: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mifq",
        abstract: "Quantify multiplex immunofluorescence whole-slide images.",
        version: "0.1.0",
        subcommands: [Inspect.self, Simulate.self, Unmix.self, Library.self, Segment.self, Quantify.self, Merge.self, Compare.self, SurvivalCommand.self, ReportCommand.self]
    )

    static func main() {
        // CPUCheck's constructor has already stopped a build for AVX2 on a CPU without it;
        // calling it here also keeps its object file in the link.
        guard mifq_cpu_supported() != 0 else { Foundation.exit(1) }
        #if canImport(Glibc)
        // Tile-sized work arrays (a few MB each, allocated and freed per tile) are served from
        // the heap and kept there, instead of fresh mmap pages the kernel must fault in and zero
        // for every tile: quantify runs ~20% faster for ~50 MB more resident memory. The worker
        // threads' arenas still gave memory back and faulted it in again (620 000 page faults
        // quantifying an 8192² slide) until each heap is grown with 64 MB to spare: 62 000
        // faults, 8% faster on one thread and 3% on two, for ~60 MB more.
        mallopt(M_MMAP_THRESHOLD, 256 << 20)
        mallopt(M_TRIM_THRESHOLD, 1 << 30)
        mallopt(M_TOP_PAD, 64 << 20)
        #endif
        Unmixer.prepareBLAS()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Prints a one-line error naming the file and the problem, then exits non-zero.
func fail(_ error: Error) -> Never {
    let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
    FileHandle.standardError.write(Data("mifq: error: \(message)\n".utf8))
    Foundation.exit(1)
}

/// One line on stderr that the user should read but that is no failure.
func note(_ message: String) {
    FileHandle.standardError.write(Data("mifq: note: \(message)\n".utf8))
}

/// Options every long-running command shares.
struct RunOptions: ParsableArguments {
    @Option(help: "Worker threads (results do not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "No progress on stderr.")
    var quiet = false

    var workers: Int { max(1, threads) }

    func validate() throws { try Check.range(threads, 1...4096, "--threads") }
}

/// Option values checked before any work starts; each failure names the option.
enum Check {
    /// A pixel size, when one is given: a number above 0 (whether it is plausible for the
    /// slide, `Slide.plausiblePixelSizes`, is checked with the slide, naming it).
    static func pixelSize(_ v: Double?) throws {
        guard let v else { return }
        guard v.isFinite, v > 0 else { throw ValidationError("--pixel-size must be a number of µm above 0 (got \(v))") }
    }

    static func range(_ v: Int, _ r: ClosedRange<Int>, _ option: String) throws {
        guard r.contains(v) else { throw ValidationError("\(option) must be between \(r.lowerBound) and \(r.upperBound) (got \(v))") }
    }

    /// Tiles of 64 px to 8192 px: smaller ones are mostly halo, larger ones hold a slide's
    /// worth of planes per worker.
    static func tile(_ v: Int) throws { try range(v, 64...8192, "--tile") }
}
