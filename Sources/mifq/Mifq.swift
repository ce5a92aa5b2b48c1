import ArgumentParser
import Foundation
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

/// Options every long-running command shares.
struct RunOptions: ParsableArguments {
    @Option(help: "Worker threads (results do not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "No progress on stderr.")
    var quiet = false

    var workers: Int { max(1, threads) }
}
