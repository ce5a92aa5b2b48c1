import ArgumentParser
import Foundation

@main
struct Mifq: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mifq",
        abstract: "Quantify multiplex immunofluorescence whole-slide images.",
        version: "0.1.0",
        subcommands: [Inspect.self, Simulate.self, Unmix.self, Library.self, Segment.self, Quantify.self, Merge.self, Compare.self, SurvivalCommand.self, ReportCommand.self]
    )
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
