// `tagline-bench binding-churn`: changes IP-SGT bindings of a running
// cts-binding-store at a steady rate with `cts.binding.batch` requests, one
// batch per tick. Prefixes of 2001:db8:100::/64 are set, changed and deleted in
// turn; with --flip one prefix also flips between two SGTs every tick. At the
// end the store's bindings are read back and compared with the last change
// of every prefix; --save writes that expected set, and --verify compares a
// saved set again later (after the store was killed and restarted).

import Foundation
import TaglineBus
import TaglineCore

struct BindingChurnSettings {
    var runDirectory: String
    var rate: Int
    var seconds: Int
    /// Distinct 2001:db8:100::/64 prefixes changed in turn.
    var prefixes: Int
    var ticksPerSecond: Int
    /// A prefix and the two SGTs it flips between, one flip per tick.
    var flip: (prefix: IPPrefix, sgts: (SGT, SGT))?
    var savePath: String?
    var json: Bool
}

/// The last change sent for each prefix: the SGT, or nil when it was deleted.
struct ExpectedBindings: Codable {
    var bindings: [String: UInt16?]

    /// Returns the differences between this set and the store's API bindings, one line each.
    func mismatches(in stored: [SGTBinding]) -> [String] {
        var api: [String: UInt16] = [:]
        for binding in stored where binding.source == .api {
            api[binding.prefix.description] = binding.sgt.value
        }
        var lines: [String] = []
        for (prefix, sgt) in bindings.sorted(by: { $0.key < $1.key }) where api[prefix] != sgt {
            lines.append(
                "\(prefix): expected \(sgt.map(String.init) ?? "no binding"), store has "
                    + (api[prefix].map(String.init) ?? "no binding"))
        }
        return lines
    }
}

final class BindingChurnBenchmark {
    let settings: BindingChurnSettings
    private let client: BusClient
    private var expected = ExpectedBindings(bindings: [:])
    private var sent = 0
    private var flipped = false

    init(_ settings: BindingChurnSettings) throws {
        self.settings = settings
        client = try BusClient(
            service: .bindingStore, runDirectory: settings.runDirectory,
            sender: "tagline-bench")
    }

    /// Returns the `index`th /128 prefix of 2001:db8:100::/64.
    static func prefix(_ index: Int) -> IPPrefix {
        let high = String(index >> 16 & 0xffff, radix: 16)
        let low = String(index & 0xffff, radix: 16)
        return IPPrefix(covering: IPAddress("2001:db8:100::\(high):\(low)")!, length: 128)
    }

    /// Returns the next change of the rotation. Each prefix is set on three passes, with
    /// a different SGT each time, and deleted on the fourth.
    private func nextChange() -> BindingChangeRequest {
        let index = sent % settings.prefixes
        let pass = sent / settings.prefixes
        sent += 1
        let prefix = BindingChurnBenchmark.prefix(index)
        let sgt = pass % 4 == 3 ? nil : SGT(UInt16(1000 + pass % 4))
        expected.bindings[prefix.description] = sgt?.value
        return BindingChangeRequest(prefix: prefix, sgt: sgt, source: .api)
    }

    func run() throws {
        let start = monotonicNanoseconds()
        let tick = 1.0 / Double(settings.ticksPerSecond)
        var batches = 0
        var slowest = 0.0
        var changes = 0
        var ticks = 0

        while true {
            let elapsed = Double(monotonicNanoseconds() - start) / 1e9
            // Changes that fell behind during a slow reply are sent after the last tick, so
            // the rate counts the time it took the store to take all of them.
            let total = settings.rate * settings.seconds
            if elapsed >= Double(settings.seconds), changes >= total { break }
            let due = Int(Double(settings.rate) * min(elapsed + tick, Double(settings.seconds)))
            var batch: [BindingChangeRequest] = []
            if let flip = settings.flip {
                flipped.toggle()
                let sgt = flipped ? flip.sgts.1 : flip.sgts.0
                expected.bindings[flip.prefix.description] = sgt.value
                batch.append(BindingChangeRequest(prefix: flip.prefix, sgt: sgt, source: .api))
            }
            while changes + batch.count < due, batch.count < 10_000 {
                batch.append(nextChange())
            }

            let sentAt = monotonicNanoseconds()
            _ = try client.request(
                MessageType.bindingBatch, BindingBatchRequest(changes: batch),
                as: BindingBatchReply.self, timeout: 5)
            slowest = max(slowest, Double(monotonicNanoseconds() - sentAt) / 1e6)
            changes += batch.count
            batches += 1
            ticks += 1
            let next = start &+ UInt64(Double(ticks) * tick * 1e9)
            let now = monotonicNanoseconds()
            if next > now { usleep(UInt32(min((next - now) / 1000, 1_000_000))) }
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9

        if let path = settings.savePath {
            let data = try JSONEncoder().encode(expected)
            guard FileManager.default.createFile(atPath: path, contents: data) else {
                throw BenchError("cannot write \(path)")
            }
        }
        let mismatches = try BindingChurnBenchmark.verify(expected, client: client)
        let rate = Double(changes) / seconds
        let figures: [(String, String)] = [
            ("changes", String(changes)), ("seconds", String(format: "%.2f", seconds)),
            ("changes_per_s", String(format: "%.0f", rate)), ("batches", String(batches)),
            ("slowest_batch_ms", String(format: "%.1f", slowest)),
            ("prefixes", String(expected.bindings.count)),
            ("mismatches", String(mismatches.count)),
        ]
        BindingChurnBenchmark.printFigures(figures, json: settings.json)
        for line in mismatches.prefix(10) { fputs("tagline-bench: \(line)\n", stderr) }
        guard mismatches.isEmpty else {
            throw BenchError(
                "the store differs from the changes sent in \(mismatches.count) prefixes")
        }
        guard rate >= Double(settings.rate) * 0.95 else {
            throw BenchError(
                String(format: "reached %.0f changes/s of %d asked for", rate, settings.rate))
        }
    }

    /// Reads the store's bindings and returns how they differ from `expected`.
    static func verify(_ expected: ExpectedBindings, client: BusClient) throws -> [String] {
        let list = try client.request(
            MessageType.bindingList, EmptyRequest(), as: BindingListReply.self, timeout: 10)
        return expected.mismatches(in: list.bindings)
    }

    /// Compares the set saved by an earlier run with the store now.
    static func verifySaved(path: String, runDirectory: String, json: Bool) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BenchError("cannot read \(path)")
        }
        let expected = try JSONDecoder().decode(ExpectedBindings.self, from: data)
        let client = try BusClient(
            service: .bindingStore, runDirectory: runDirectory, sender: "tagline-bench")
        let mismatches = try verify(expected, client: client)
        printFigures(
            [
                ("prefixes", String(expected.bindings.count)),
                ("mismatches", String(mismatches.count)),
            ],
            json: json)
        for line in mismatches.prefix(10) { fputs("tagline-bench: \(line)\n", stderr) }
        guard mismatches.isEmpty else {
            throw BenchError("the store differs from \(path) in \(mismatches.count) prefixes")
        }
    }

    static func printFigures(_ figures: [(String, String)], json: Bool) {
        if json {
            let fields = figures.map { "\"\($0.0)\": \($0.1)" }
            print("{\"bench\": \"binding-churn\", " + fields.joined(separator: ", ") + "}")
        } else {
            print("binding-churn " + figures.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        }
    }
}

/// Parses the options of `binding-churn` and runs it; exits 1 when it fails.
func runBindingChurn(_ arguments: ArraySlice<String>) {
    let options = parseOptions(
        arguments,
        values: [
            "--run-dir", "--rate", "--seconds", "--prefixes", "--ticks", "--flip", "--save",
            "--verify",
        ],
        flags: ["--json"])
    guard let runDirectory = options["--run-dir"] else { usageError("missing --run-dir") }
    let json = options["--json"] != nil
    do {
        if let path = options["--verify"] {
            try BindingChurnBenchmark.verifySaved(
                path: path, runDirectory: runDirectory, json: json)
            return
        }
        var flip: (IPPrefix, (SGT, SGT))?
        if let text = options["--flip"] {
            let words = text.split(separator: " ").map(String.init)
            guard words.count == 3,
                let prefix = IPPrefix(words[0])
                    ?? IPAddress(words[0]).map({
                        IPPrefix(covering: $0, length: $0.bitWidth)
                    }),
                let first = UInt16(words[1]).flatMap(SGT.init),
                let second = UInt16(words[2]).flatMap(SGT.init)
            else { usageError("invalid --flip value \(text): expected \"PREFIX SGT SGT\"") }
            flip = (prefix, (first, second))
        }
        let settings = BindingChurnSettings(
            runDirectory: runDirectory, rate: wholeNumber(options, "--rate", 1...1_000_000, 10_000),
            seconds: wholeNumber(options, "--seconds", 1...3600, 5),
            prefixes: wholeNumber(options, "--prefixes", 1...131_072, 5000),
            ticksPerSecond: wholeNumber(options, "--ticks", 1...1000, 100), flip: flip,
            savePath: options["--save"], json: json)
        try BindingChurnBenchmark(settings).run()
    } catch {
        fputs("tagline-bench: binding-churn failed: \(error)\n", stderr)
        exit(1)
    }
}
