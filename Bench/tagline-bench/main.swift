// tagline-bench: benchmarks of running Tagline services, driven over the bus.
//
//   tagline-bench ike-rate --initiator-run-dir DIR --responder-run-dir DIR
//                          [--n N] [--rounds R] [--target "MAP SEQ"] [--timeout S] [--json]
//   tagline-bench lpm [--count N] [--lookups N] [--rounds R] [--seed S] [--json]
//
// Results go to standard output, one line per result; progress and
// diagnostics go to standard error. Exit status: 0 success, 1 a measurement
// or check failed, 2 invalid usage.

import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

let usage = """
    usage: tagline-bench ike-rate --initiator-run-dir DIR --responder-run-dir DIR
                                  [--n N] [--rounds R] [--target "MAP SEQ"] [--timeout S] [--json]

    ike-rate: the initiator's ike-negotiator starts N IKE SAs at once for one
    crypto map entry (ike.initiate), and the wall time runs until N IKE SAs and
    N Child SAs are up on both gateways. sas_per_s = N / wall time, the median
    of R rounds. The IKE SAs of a round are cleared before the next one.

      --initiator-run-dir DIR  bus sockets of the initiating gateway's services
      --responder-run-dir DIR  bus sockets of the responding gateway's services
      --n N                    IKE SAs per round (default 500)
      --rounds R               rounds (default 5)
      --target "MAP SEQ"       crypto map entry to initiate (default: the only one)
      --timeout S              seconds a round may take (default 120)
      --json                   print one JSON object per result line

    usage: tagline-bench lpm [--count N] [--lookups N] [--rounds R] [--seed S] [--json]

    lpm: bulk loads N random prefixes (mostly IPv4 /24 and /32, some /16-/31,
    5% IPv6 /48-/128) into the dataplane's LPM binding table, then times IPv4
    lookups on one core against an exact-match dictionary of the same
    addresses, and IPv6 lookups. Prints load time, memory per binding and
    lookups per second (the best of R passes).

      --count N                prefixes in the table (default 1000000)
      --lookups N              IPv4 addresses looked up per pass (default 4000000)
      --rounds R               passes over the addresses (default 5)
      --seed S                 seed of the random generator (default 1)
      --json                   print one JSON object
    """

/// Prints `message` and the usage to standard error and exits 2.
func usageError(_ message: String) -> Never {
    fputs("tagline-bench: \(message)\n\(usage)\n", stderr)
    exit(2)
}

/// Parses `--name value` pairs and flags of one subcommand.
func parseOptions(_ arguments: ArraySlice<String>, values: Set<String>, flags: Set<String>)
    -> [String: String]
{
    var parsed: [String: String] = [:]
    var index = arguments.startIndex
    while index < arguments.endIndex {
        let name = arguments[index]
        if flags.contains(name) {
            parsed[name] = ""
        } else if values.contains(name) {
            index += 1
            guard index < arguments.endIndex else { usageError("\(name) requires a value") }
            parsed[name] = arguments[index]
        } else {
            usageError("unknown option \(name)")
        }
        index += 1
    }
    return parsed
}

/// Returns the whole number given with `name` within `range`, or `fallback` when absent.
func wholeNumber(
    _ options: [String: String], _ name: String, _ range: ClosedRange<Int>, _ fallback: Int
)
    -> Int
{
    guard let text = options[name] else { return fallback }
    guard let value = Int(text), range.contains(value) else {
        usageError(
            "invalid \(name) value \(text): expected a whole number from \(range.lowerBound) "
                + "to \(range.upperBound)")
    }
    return value
}

let arguments = CommandLine.arguments.dropFirst()
guard let subcommand = arguments.first else { usageError("missing subcommand") }
switch subcommand {
case "ike-rate":
    let options = parseOptions(
        arguments.dropFirst(),
        values: [
            "--initiator-run-dir", "--responder-run-dir", "--n", "--rounds", "--target",
            "--timeout",
        ],
        flags: ["--json"])
    guard let initiator = options["--initiator-run-dir"] else {
        usageError("missing --initiator-run-dir")
    }
    guard let responder = options["--responder-run-dir"] else {
        usageError("missing --responder-run-dir")
    }
    let settings = IKERateSettings(
        initiatorRunDirectory: initiator, responderRunDirectory: responder,
        count: wholeNumber(options, "--n", 1...IKERateSettings.maximumCount, 500),
        rounds: wholeNumber(options, "--rounds", 1...100, 5), target: options["--target"],
        timeout: Double(wholeNumber(options, "--timeout", 1...3600, 120)),
        json: options["--json"] != nil)
    do {
        try IKERateBenchmark(settings).run()
    } catch {
        fputs("tagline-bench: ike-rate failed: \(error)\n", stderr)
        exit(1)
    }
case "lpm":
    let options = parseOptions(
        arguments.dropFirst(), values: ["--count", "--lookups", "--rounds", "--seed"],
        flags: ["--json"])
    let settings = LPMBenchSettings(
        count: wholeNumber(options, "--count", 1...20_000_000, 1_000_000),
        lookups: wholeNumber(options, "--lookups", 2...100_000_000, 4_000_000),
        rounds: wholeNumber(options, "--rounds", 1...100, 5),
        seed: UInt64(wholeNumber(options, "--seed", 0...Int.max, 1)),
        json: options["--json"] != nil)
    LPMBenchmark(settings: settings).run()
case "-h", "--help", "help":
    print(usage)
default:
    usageError("unknown subcommand \(subcommand)")
}
