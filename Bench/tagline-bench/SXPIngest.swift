// tagline-bench sxp-ingest: SXP UPDATE ingestion of a running cts-binding-store.
// A Tagline SXP speaker (SXPEndpoint) connects to the store's listener with
// TCP-MD5 and announces N host bindings in UPDATEs of at most 4096 bytes. The
// clock runs from the connection's On state until the store counts N SXP
// bindings. The count comes from cts.binding.count, polled every 50 ms.

import Foundation
import TaglineBus
import TaglineCore
import TaglineSXP

#if canImport(Glibc)
    import Glibc
#endif

struct SXPIngestSettings {
    /// Bus sockets of the store under test.
    var runDirectory: String
    /// The store's listener address and port.
    var storeAddress: IPAddress
    var port: UInt16
    /// The speaker's address, the peer address of the store's connection line.
    var sourceAddress: IPAddress
    var password: String
    var count: Int
    var timeout: Double
    var json: Bool
}

final class SXPIngestBenchmark {
    let settings: SXPIngestSettings
    private let client: BusClient
    private var descriptors: Set<Int32> = []

    init(_ settings: SXPIngestSettings) throws {
        self.settings = settings
        client = try BusClient(
            service: .bindingStore, runDirectory: settings.runDirectory, sender: "tagline-bench")
    }

    /// Returns the `index`th /128 prefix of 2001:db8:200::/64.
    static func prefix(_ index: Int) -> IPPrefix {
        let high = String(index >> 16 & 0xffff, radix: 16)
        let low = String(index & 0xffff, radix: 16)
        return IPPrefix(covering: IPAddress("2001:db8:200::\(high):\(low)")!, length: 128)
    }

    /// The speaker's node ID, 198.51.100.250.
    static let nodeID: UInt32 = 0xc633_64fa

    /// Distinct SGTs of the announced bindings.
    static let tagCount = 50

    /// Returns the number of version 4 UPDATE messages that carry `bindings`.
    static func updateCount(_ bindings: [SXPBinding], nodeID: UInt32) -> Int {
        var groups: [SXPBindingGroup] = []
        for binding in bindings {
            if let last = groups.last, last.sgt == binding.sgt {
                groups[groups.count - 1].prefixes.append(binding.prefix)
            } else {
                groups.append(
                    SXPBindingGroup(
                        peerSequence: [nodeID], sgt: binding.sgt, prefixes: [binding.prefix]))
            }
        }
        return SXPUpdate(additions: groups).split(version: .v4).count
    }

    static func now() -> Double { Double(monotonicNanoseconds()) / 1e9 }

    /// Returns the number of SXP bindings stored in the store.
    private func storedSXPBindings() throws -> Int {
        let reply = try client.request(
            MessageType.bindingCount, EmptyRequest(), as: BindingCountReply.self, timeout: 10)
        return reply.bySource[BindingSource.sxp.rawValue] ?? 0
    }

    func run() throws {
        let before = try storedSXPBindings()
        guard before == 0 else {
            throw BenchError(
                "the store already contains \(before) SXP bindings; start it with an empty state directory"
            )
        }
        // 50 SGTs over consecutive blocks of prefixes, so that an UPDATE carries
        // long prefix lists per SGT, as when a speaker sends its table grouped by tag.
        let block = max(1, settings.count / Self.tagCount)
        let bindings = (0..<settings.count).map { index in
            SXPBinding(
                prefix: Self.prefix(index),
                sgt: SGT(UInt16(100 + min(index / block, Self.tagCount - 1)))!)
        }
        let peer = SXPPeerConfig(
            address: settings.storeAddress, source: settings.sourceAddress,
            key: Array(settings.password.utf8), port: settings.port,
            settings: SXPPeerSettings(mode: .speaker, nodeID: Self.nodeID))
        let endpoint = try SXPEndpoint(
            peers: [peer], listenAddress: settings.sourceAddress, port: 0, retryPeriod: 1)
        endpoint.bindingsToAnnounce = { _ in bindings }
        endpoint.onDescriptorAdded = { [unowned self] fd in descriptors.insert(fd) }
        endpoint.onDescriptorRemoved = { [unowned self] fd in descriptors.remove(fd) }
        defer { endpoint.shutdown() }

        let started = Self.now()
        endpoint.start(now: started)
        var onAt: Double?
        var nextPoll = started
        var stored = 0
        while stored < settings.count {
            let now = Self.now()
            guard now - started < settings.timeout else {
                throw BenchError(
                    "timed out after \(Int(settings.timeout)) s: the store contains \(stored) of "
                        + "\(settings.count) SXP bindings"
                        + (onAt == nil ? " and the connection never came up" : ""))
            }
            pollOnce(endpoint, milliseconds: 5)
            endpoint.tick(now: Self.now())
            if onAt == nil, endpoint.connection(for: settings.storeAddress)?.state == .on {
                onAt = Self.now()
            }
            if onAt != nil, Self.now() >= nextPoll {
                stored = try storedSXPBindings()
                nextPoll = Self.now() + 0.05
            }
        }
        let done = Self.now()
        let seconds = done - (onAt ?? started)
        let rate = Double(settings.count) / seconds
        Self.printFigures(
            [
                ("bindings", String(settings.count)),
                ("seconds", String(format: "%.3f", seconds)),
                ("bindings_per_s", String(format: "%.0f", rate)),
                ("updates", String(Self.updateCount(bindings, nodeID: Self.nodeID))),
                ("connect_s", String(format: "%.3f", (onAt ?? started) - started)),
            ],
            json: settings.json)
    }

    static func printFigures(_ figures: [(String, String)], json: Bool) {
        if json {
            let fields = figures.map { "\"\($0.0)\": \($0.1)" }
            print("{\"bench\": \"sxp-ingest\", " + fields.joined(separator: ", ") + "}")
        } else {
            print("sxp-ingest " + figures.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        }
    }

    /// Waits up to `milliseconds` for input and hands each readable socket to the endpoint.
    private func pollOnce(_ endpoint: SXPEndpoint, milliseconds: Int32) {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard !fds.isEmpty else {
            usleep(UInt32(milliseconds) * 1000)
            return
        }
        let ready = poll(&fds, nfds_t(fds.count), milliseconds)
        guard ready > 0 else { return }
        for entry in fds where entry.revents != 0 {
            endpoint.readable(entry.fd, now: Self.now())
        }
    }
}

/// Parses `sxp-ingest` options and runs the benchmark.
func runSXPIngest(_ arguments: ArraySlice<String>) {
    let options = parseOptions(
        arguments,
        values: ["--run-dir", "--address", "--port", "--source", "--password", "--n", "--timeout"],
        flags: ["--json"])
    guard let runDirectory = options["--run-dir"] else { usageError("missing --run-dir") }
    guard let password = options["--password"] else { usageError("missing --password") }
    func address(_ name: String, _ fallback: String) -> IPAddress {
        let text = options[name] ?? fallback
        guard let value = IPAddress(text) else {
            usageError("invalid \(name) value \(text): expected an IP address")
        }
        return value
    }
    let settings = SXPIngestSettings(
        runDirectory: runDirectory, storeAddress: address("--address", "127.0.0.2"),
        port: UInt16(wholeNumber(options, "--port", 1...65535, Int(SXPEndpoint.defaultPort))),
        sourceAddress: address("--source", "127.0.0.1"), password: password,
        count: wholeNumber(options, "--n", 1...10_000_000, 200_000),
        timeout: Double(wholeNumber(options, "--timeout", 1...3600, 60)),
        json: options["--json"] != nil)
    do {
        try SXPIngestBenchmark(settings).run()
    } catch {
        fputs("tagline-bench: sxp-ingest failed: \(error)\n", stderr)
        exit(1)
    }
}
