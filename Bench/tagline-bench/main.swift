// tagline-bench: benchmarks of running Tagline services, driven over the bus, and of
// the dataplane's packet path on memory.
//
//   tagline-bench ike-rate --initiator-run-dir DIR --responder-run-dir DIR
//                          [--n N] [--rounds R] [--target "MAP SEQ"] [--timeout S] [--json]
//   tagline-bench pipeline [--packets N] [--warmup N] [--rounds R] [--sizes 64,512,1400]
//                          [--case NAME]
//                          [--perf-control CTL,ACK] [--json]
//   tagline-bench lpm [--count N] [--lookups N] [--rounds R] [--seed S] [--json]
//   tagline-bench binding-latency --run-dir DIR [--load N] [--samples N] [--json]
//   tagline-bench sxp-ingest --run-dir DIR --password KEY [--address A] [--port P]
//                            [--source A] [--n N] [--timeout S] [--json]
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
           tagline-bench pipeline [--packets N] [--warmup N] [--rounds R] [--sizes 64,512,1400]
                                  [--case NAME] [--perf-control CTL,ACK] [--json]

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

    pipeline: packets per second of the dataplane's packet path on memory, one
    thread, AES-128-GCM: outbound (classify, SPD match, SGT lookup, CMD insert,
    seal, framing) and inbound, tagged and untagged, against a bare OpenSSL loop
    that seals or opens the same lengths. One outbound and one inbound line per
    inner packet size.

      --packets N              packets per case and size (default 200000)
      --warmup N               untimed packets first (default a tenth of --packets)
      --rounds R               rounds of every case, best one reported (default 3)
      --sizes LIST             inner IPv4 packet sizes in bytes (default 64,512,1400)
      --case NAME              run only NAME (bare-seal, bare-open, outbound,
                               untagged-outbound, round-trip, untagged-round-trip)
                               and print its time, for perf stat or callgrind
      --perf-control CTL,ACK   perf stat --control FIFOs: count only the measured loop
      --json                   print one JSON object per size

    usage: tagline-bench binding-churn --run-dir DIR [--rate N] [--seconds S]
                                       [--prefixes N] [--ticks N] [--flip "PREFIX SGT SGT"]
                                       [--save FILE] [--json]
           tagline-bench binding-churn --run-dir DIR --verify FILE [--json]

    binding-churn: sends N binding changes a second to cts-binding-store in
    cts.binding.batch requests, one per tick, then checks that the store holds
    the last change of every prefix.

      --run-dir DIR            bus sockets of the gateway's services
      --rate N                 changes per second (default 10000)
      --seconds S              seconds of changes (default 5)
      --prefixes N             2001:db8:100::/64 prefixes changed in turn (default 5000)
      --ticks N                batches per second (default 100)
      --flip "PREFIX SGT SGT"  also flip PREFIX between two SGTs once per tick
      --save FILE              write the expected bindings to FILE
      --verify FILE            only compare the store with a saved FILE

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

    usage: tagline-bench binding-latency --run-dir DIR [--load N] [--samples N] [--json]

    binding-latency: loads N IPv6 /128 bindings of 2001:db8:300::/64 into
    cts-binding-store (default 1000000), waits until dataplane-tagger reports
    them, then changes one binding N times (--samples, default 200) and prints
    p50 and p99 milliseconds from the store's reply to the dataplane's
    publication of a table that holds the change.

      --run-dir DIR            bus sockets of the gateway's services
      --load N                 bindings loaded first (default 1000000)
      --samples N              binding changes timed (default 200)
      --json                   print one JSON object

    usage: tagline-bench sxp-ingest --run-dir DIR --password KEY [--address A] [--port P]
                                    [--source A] [--n N] [--timeout S] [--json]

    sxp-ingest: a Tagline SXP speaker connects from --source to the SXP
    listener of a running, empty cts-binding-store with TCP-MD5 and announces
    N /128 bindings of 2001:db8:200::/64 in UPDATEs of at most 4096 bytes.
    Prints bindings per second from the connection's On state until the store
    counts N SXP bindings (cts.binding.count).

      --run-dir DIR            bus sockets of the store
      --password KEY           TCP-MD5 password of the store's connection line
      --address A              the store's SXP listener address (default 127.0.0.2)
      --port P                 the store's SXP port (default 64999)
      --source A               the speaker's address (default 127.0.0.1)
      --n N                    bindings announced (default 200000)
      --timeout S              seconds before giving up (default 60)
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
case "pipeline":
    let options = parseOptions(
        arguments.dropFirst(),
        values: ["--packets", "--warmup", "--rounds", "--sizes", "--case", "--perf-control"],
        flags: ["--json"])
    var sizes = [64, 512, 1400]
    if let text = options["--sizes"] {
        sizes = text.split(separator: ",").map { item in
            guard let size = Int(item), (28...1400).contains(size) else {
                usageError("invalid --sizes entry \(item): expected 28 to 1400 bytes")
            }
            return size
        }
    }
    var perfControl: (control: String, ack: String)?
    if let text = options["--perf-control"] {
        let paths = text.split(separator: ",").map(String.init)
        guard paths.count == 2 else { usageError("--perf-control takes CTL,ACK") }
        perfControl = (paths[0], paths[1])
    }
    let settings = PipelineRateSettings(
        packets: wholeNumber(options, "--packets", 1...1_000_000_000, 200_000), sizes: sizes,
        onlyCase: options["--case"], perfControl: perfControl,
        warmup: options["--warmup"] == nil
            ? nil : wholeNumber(options, "--warmup", 0...1_000_000_000, 0),
        rounds: wholeNumber(options, "--rounds", 1...100, 3), json: options["--json"] != nil)
    do {
        try PipelineRateBenchmark(settings).run()
    } catch {
        fputs("tagline-bench: pipeline failed: \(error)\n", stderr)
        exit(1)
    }
case "binding-churn":
    runBindingChurn(arguments.dropFirst())
case "binding-latency":
    runBindingLatency(arguments.dropFirst())
case "sxp-ingest":
    runSXPIngest(arguments.dropFirst())
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
