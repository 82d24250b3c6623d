// `tagline-bench binding-latency`: how long a binding change takes from
// cts-binding-store to the table the dataplane workers read, with a large
// table loaded.
//
// First --load IPv6 /128 bindings (2001:db8:300::/64, source API) go to the store
// in cts.binding.batch requests of 10,000, and the bench waits until
// dataplane-tagger reports them all. Then --samples times: read the
// dataplane's published clone sequence, change one binding, and poll the
// dataplane status until a table with a later sequence is published. The
// dataplane reports the CLOCK_MONOTONIC time of that publication; the clock
// is system-wide, so it compares with the bench's own timestamps. Latency
// is counted from the store's reply to the change (the change is then
// committed), and also from the request.

import Foundation
import TaglineBus
import TaglineCore

struct BindingLatencySettings {
    var runDirectory: String
    var load: Int
    var samples: Int
    var json: Bool
}

final class BindingLatencyBenchmark {
    let settings: BindingLatencySettings
    private let store: BusClient
    private let dataplane: BusClient

    init(_ settings: BindingLatencySettings) throws {
        self.settings = settings
        store = try BusClient(
            service: .bindingStore, runDirectory: settings.runDirectory, sender: "tagline-bench")
        dataplane = try BusClient(
            service: .dataplane, runDirectory: settings.runDirectory, sender: "tagline-bench")
    }

    /// Returns the `index`th /128 of 2001:db8:300::/64.
    static func loadPrefix(_ index: Int) -> IPPrefix {
        IPPrefix(covering: .v6(0x2001_0db8_0300_0000, UInt64(index)), length: 128)
    }

    private func status() throws -> DataplaneStatusReply {
        try dataplane.request(
            MessageType.dataplaneStatus, EmptyRequest(), as: DataplaneStatusReply.self,
            timeout: 5)
    }

    func run() throws {
        // Load, then wait for the dataplane to publish a table with every binding.
        let loadStart = monotonicNanoseconds()
        var index = 0
        while index < settings.load {
            let end = min(index + 10_000, settings.load)
            let changes = (index..<end).map {
                BindingChangeRequest(
                    prefix: BindingLatencyBenchmark.loadPrefix($0),
                    sgt: SGT(UInt16(100 + $0 % 1000)), source: .api)
            }
            _ = try store.request(
                MessageType.bindingBatch, BindingBatchRequest(changes: changes),
                as: BindingBatchReply.self, timeout: 30)
            index = end
        }
        let storedSeconds = Double(monotonicNanoseconds() - loadStart) / 1e9
        while try status().bindings < settings.load {
            if Double(monotonicNanoseconds() - loadStart) / 1e9 > 120 {
                throw BenchError("dataplane-tagger did not report \(settings.load) bindings")
            }
            usleep(20_000)
        }
        let publishedSeconds = Double(monotonicNanoseconds() - loadStart) / 1e9

        // Samples: one change at a time.
        let probe = IPPrefix("198.51.100.77/32")!
        var fromReply: [Double] = []
        var fromRequest: [Double] = []
        for sample in 0..<settings.samples {
            let before = try status().bindingSequence ?? 0
            let change = BindingChangeRequest(
                prefix: probe, sgt: SGT(UInt16(2000 + sample % 2)), source: .api)
            let requested = monotonicNanoseconds()
            _ = try store.request(
                MessageType.bindingBatch, BindingBatchRequest(changes: [change]),
                as: BindingBatchReply.self, timeout: 5)
            let replied = monotonicNanoseconds()
            var published: UInt64?
            while published == nil {
                let reply = try status()
                if let sequence = reply.bindingSequence, sequence > before {
                    published = reply.bindingPublishedAt
                } else if Double(monotonicNanoseconds() - replied) / 1e9 > 5 {
                    throw BenchError("no binding table published 5 s after change \(sample)")
                }
            }
            fromReply.append(Double(Int64(bitPattern: published! &- replied)) / 1e6)
            fromRequest.append(Double(Int64(bitPattern: published! &- requested)) / 1e6)
        }

        let results: [(String, String)] = [
            ("bindings", String(settings.load)),
            ("load_into_store_s", format(storedSeconds, 2)),
            ("load_published_s", format(publishedSeconds, 2)),
            ("samples", String(settings.samples)),
            ("p50_from_reply_ms", format(percentile(fromReply, 0.50), 3)),
            ("p99_from_reply_ms", format(percentile(fromReply, 0.99), 3)),
            ("p50_from_request_ms", format(percentile(fromRequest, 0.50), 3)),
            ("p99_from_request_ms", format(percentile(fromRequest, 0.99), 3)),
        ]
        if settings.json {
            let fields = results.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
            print("{\"benchmark\": \"binding-latency\", \(fields)}")
        } else {
            for (name, value) in results { print("\(name) \(value)") }
        }
    }

    private func format(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// Returns the value below which `fraction` of `values` lie (nearest rank).
    private func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}

func runBindingLatency(_ arguments: ArraySlice<String>) {
    let options = parseOptions(
        arguments, values: ["--run-dir", "--load", "--samples"], flags: ["--json"])
    guard let runDirectory = options["--run-dir"] else { usageError("missing --run-dir") }
    let settings = BindingLatencySettings(
        runDirectory: runDirectory,
        load: wholeNumber(options, "--load", 0...1_048_576, 1_000_000),
        samples: wholeNumber(options, "--samples", 1...100_000, 200),
        json: options["--json"] != nil)
    do {
        try BindingLatencyBenchmark(settings).run()
    } catch {
        fputs("tagline-bench: binding-latency failed: \(error)\n", stderr)
        exit(1)
    }
}
