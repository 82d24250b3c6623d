// `tagline-bench ike-rate`: IKE SAs set up per second between two running
// Tagline gateways. One `ike.initiate` request makes the initiator's
// ike-negotiator start N new IKE SAs at once. The wall time runs from that
// request until both negotiators have published N "up" events, each for an
// IKE SA with a Child SA, and both sa-managers have published N new Child
// SAs. Then the counts are checked with `ike.stats`, `ike.sa.list` and
// `sa.child.list`, and the N IKE SAs are cleared before the next round.

import Foundation
import TaglineBus
import TaglineCore

struct IKERateSettings {
    static let maximumCount = 100_000

    var initiatorRunDirectory: String
    var responderRunDirectory: String
    var count: Int
    var rounds: Int
    /// "MAP SEQ" of the crypto map entry; nil for the only one configured.
    var target: String?
    /// Seconds one round may take, and the wait for the clear after it.
    var timeout: Double
    var json: Bool
}

/// A failed measurement or check, with the message for standard error.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The figures of one round.
struct IKERateRound {
    var ratePerSecond: Double
    /// From the initiate request to the last of the four completions.
    var wallSeconds: Double
    /// Until the `ike.initiate` reply: every IKE_SA_INIT request sent.
    var initiateSeconds: Double
    /// Until the initiator's negotiator published its last "up".
    var initiatorSeconds: Double
    /// Until the responder's negotiator published its last "up".
    var responderSeconds: Double
    var dhGroup: Int
}

/// The state of one gateway as the bus shows it: established IKE SAs by
/// tunnel id, installed Child SAs by inbound SPI.
struct GatewayCounts: Equatable {
    var tunnelIDs: Set<Int>
    var childSPIs: Set<UInt32>
    /// IKE SAs still negotiating or being deleted.
    var unsettled: Int
    var halfOpen: Int
    var drops: [String: UInt64]

    static func read(_ runDirectory: String, timeout: Double) throws -> GatewayCounts {
        let negotiator = try BusClient(
            service: .ikeNegotiator, runDirectory: runDirectory, sender: "tagline-bench")
        let manager = try BusClient(
            service: .saManager, runDirectory: runDirectory, sender: "tagline-bench")
        let list = try negotiator.request(
            MessageType.ikeList, EmptyRequest(), as: IKESAListReply.self, timeout: timeout)
        let stats = try negotiator.request(
            MessageType.ikeStats, EmptyRequest(), as: IKEStatsReply.self, timeout: timeout)
        let children = try manager.request(
            MessageType.childList, EmptyRequest(), as: ChildSAListReply.self, timeout: timeout)
        let established = list.ikeSAs.filter { $0.status == "READY" }
        return GatewayCounts(
            tunnelIDs: Set(established.map(\.tunnelID)),
            childSPIs: Set(children.childSAs.map(\.childSA.inboundSPI)),
            unsettled: list.ikeSAs.count - established.count, halfOpen: stats.halfOpenSAs,
            drops: stats.drops)
    }
}

final class IKERateBenchmark {
    let settings: IKERateSettings
    /// Seconds to let a new subscription reach its publisher before the
    /// first event that matters can be published.
    static let subscribeDelay = 0.3
    /// Clear requests in flight at once.
    static let clearWindow = 256
    /// Interval of the polls that wait for a clear to finish.
    static let pollInterval = 0.2

    init(_ settings: IKERateSettings) {
        self.settings = settings
    }

    func run() throws {
        try waitForStandingSAs()
        var rounds: [IKERateRound] = []
        for number in 1...settings.rounds {
            let round = try measureRound()
            rounds.append(round)
            log(
                "round \(number)/\(settings.rounds): sas_per_s=\(fixed(round.ratePerSecond)) "
                    + "wall_s=\(fixed(round.wallSeconds, 3)) "
                    + "initiate_s=\(fixed(round.initiateSeconds, 3)) "
                    + "initiator_wall_s=\(fixed(round.initiatorSeconds, 3)) "
                    + "responder_wall_s=\(fixed(round.responderSeconds, 3))")
        }
        report(rounds)
    }

    // MARK: Rounds

    /// Waits until the IKE SA that the initiator sets up for its crypto map
    /// entry on its own is up on both sides, so that it cannot come up during
    /// a round.
    private func waitForStandingSAs() throws {
        let deadline = monotonicNanoseconds() + UInt64(settings.timeout * 1e9)
        while true {
            let initiator = try GatewayCounts.read(settings.initiatorRunDirectory, timeout: 5)
            let responder = try GatewayCounts.read(settings.responderRunDirectory, timeout: 5)
            if !initiator.tunnelIDs.isEmpty, initiator.unsettled == 0, responder.unsettled == 0,
                initiator.tunnelIDs.count == responder.tunnelIDs.count,
                initiator.childSPIs.count == responder.childSPIs.count,
                initiator.tunnelIDs.count == initiator.childSPIs.count
            {
                return
            }
            guard monotonicNanoseconds() < deadline else {
                throw BenchError(
                    "the gateways did not settle before the first round: initiator "
                        + "\(initiator.tunnelIDs.count) IKE SAs and \(initiator.childSPIs.count) "
                        + "Child SAs, responder \(responder.tunnelIDs.count) and "
                        + "\(responder.childSPIs.count)")
            }
            usleep(UInt32(IKERateBenchmark.pollInterval * 1e6))
        }
    }

    private func measureRound() throws -> IKERateRound {
        let count = settings.count
        let initiatorBefore = try GatewayCounts.read(settings.initiatorRunDirectory, timeout: 5)
        let responderBefore = try GatewayCounts.read(settings.responderRunDirectory, timeout: 5)
        let loop = EventLoop()
        var progress = RoundProgress(count: count)
        var failure: BenchError?

        // Four subscriptions: "up" events of both negotiators, new Child SAs of both sa-managers.
        func ikeSubscriber(_ runDirectory: String, _ before: GatewayCounts, initiator: Bool)
            throws -> EventSubscriber
        {
            try EventSubscriber(
                endpoint: BusPaths(runDirectory: runDirectory).publisher(.ikeNegotiator),
                topics: [MessageType.ikeEvent], loop: loop
            ) { frames in
                guard frames.count == Envelope.frameCount,
                    let tunnelID = EventScan.upTunnelID(frames[6]),
                    !before.tunnelIDs.contains(tunnelID)
                else { return }
                progress.ikeUp(tunnelID, initiator: initiator)
                if progress.isComplete { loop.stop() }
            }
        }
        func childSubscriber(_ runDirectory: String, _ before: GatewayCounts, initiator: Bool)
            throws -> EventSubscriber
        {
            try EventSubscriber(
                endpoint: BusPaths(runDirectory: runDirectory).publisher(.saManager),
                topics: [MessageType.childUpdate], loop: loop
            ) { frames in
                guard frames.count == Envelope.frameCount,
                    let spi = EventScan.addedChildSPI(frames[6]),
                    !before.childSPIs.contains(spi)
                else { return }
                progress.childUp(spi, initiator: initiator)
                if progress.isComplete { loop.stop() }
            }
        }
        let subscribers = [
            try ikeSubscriber(settings.initiatorRunDirectory, initiatorBefore, initiator: true),
            try ikeSubscriber(settings.responderRunDirectory, responderBefore, initiator: false),
            try childSubscriber(settings.initiatorRunDirectory, initiatorBefore, initiator: true),
            try childSubscriber(settings.responderRunDirectory, responderBefore, initiator: false),
        ]
        defer { for subscriber in subscribers { subscriber.close() } }
        let settleUntil = monotonicNanoseconds() + UInt64(IKERateBenchmark.subscribeDelay * 1e9)
        while monotonicNanoseconds() < settleUntil { loop.runOnce(maxWait: 0.05) }

        // The timed part: one request for all N, then events until all four counts reach N.
        let negotiator = try BusClient(
            service: .ikeNegotiator, runDirectory: settings.initiatorRunDirectory,
            sender: "tagline-bench")
        var started: [Int] = []
        progress.start = monotonicNanoseconds()
        negotiator.send(
            MessageType.ikeInitiate, IKEInitiateRequest(target: settings.target, count: count),
            as: IKEInitiateReply.self, timeout: settings.timeout, loop: loop
        ) { result in
            switch result {
            case .success(let reply):
                progress.initiated = monotonicNanoseconds()
                started = reply.tunnelIDs
                if reply.tunnelIDs.count != count {
                    failure = BenchError(
                        "ike-negotiator started \(reply.tunnelIDs.count) of \(count) IKE SAs "
                            + "for \(reply.target); see its log")
                    loop.stop()
                }
            case .failure(let error):
                failure = BenchError("ike.initiate failed: \(error)")
                loop.stop()
            }
        }
        loop.addOneShot(after: settings.timeout) {
            failure = BenchError(
                "timed out after \(Int(self.settings.timeout)) s: \(progress.summary)")
            loop.stop()
        }
        loop.run()
        if let failure { throw failure }
        // The reply can come after the last event when the events outrun it.
        while progress.initiated == nil { loop.runOnce(maxWait: 0.1) }

        let round = try check(
            progress, started: started, initiatorBefore: initiatorBefore,
            responderBefore: responderBefore)
        try clear(started, initiatorBefore: initiatorBefore, responderBefore: responderBefore)
        return round
    }

    /// Checks the counts each side reports against the events, and reads the
    /// DH group of the new IKE SAs.
    private func check(
        _ progress: RoundProgress, started: [Int], initiatorBefore: GatewayCounts,
        responderBefore: GatewayCounts
    ) throws -> IKERateRound {
        let count = settings.count
        let initiator = try GatewayCounts.read(settings.initiatorRunDirectory, timeout: 10)
        let responder = try GatewayCounts.read(settings.responderRunDirectory, timeout: 10)
        for (name, before, after) in [
            ("initiator", initiatorBefore, initiator), ("responder", responderBefore, responder),
        ] {
            let newSAs = after.tunnelIDs.subtracting(before.tunnelIDs).count
            let newChildren = after.childSPIs.subtracting(before.childSPIs).count
            guard newSAs == count, after.tunnelIDs.count == before.tunnelIDs.count + count else {
                throw BenchError(
                    "\(name) has \(after.tunnelIDs.count) established IKE SAs, expected "
                        + "\(before.tunnelIDs.count) + \(count) (\(newSAs) new)")
            }
            guard newChildren == count, after.childSPIs.count == before.childSPIs.count + count
            else {
                throw BenchError(
                    "\(name) sa-manager has \(after.childSPIs.count) Child SAs, expected "
                        + "\(before.childSPIs.count) + \(count) (\(newChildren) new)")
            }
            for (reason, total) in after.drops.sorted(by: { $0.key < $1.key }) {
                let added = total - (before.drops[reason] ?? 0)
                if added > 0 { log("\(name) dropped \(added) datagrams: \(reason)") }
            }
        }
        guard Set(started) == progress.initiatorIKE else {
            throw BenchError("the IKE SAs that came up on the initiator are not the ones started")
        }
        let negotiator = try BusClient(
            service: .ikeNegotiator, runDirectory: settings.initiatorRunDirectory,
            sender: "tagline-bench")
        let list = try negotiator.request(
            MessageType.ikeList, EmptyRequest(), as: IKESAListReply.self, timeout: 10)
        let groups = Set(
            list.ikeSAs.filter { progress.initiatorIKE.contains($0.tunnelID) }.map(\.dhGroup))
        guard groups.count == 1, let group = groups.first else {
            throw BenchError("the new IKE SAs use DH groups \(groups.sorted()), expected one")
        }
        let seconds = { (end: UInt64) in Double(end - progress.start) / 1e9 }
        let wall = seconds(progress.completedAt ?? monotonicNanoseconds())
        return IKERateRound(
            ratePerSecond: Double(count) / wall, wallSeconds: wall,
            initiateSeconds: seconds(progress.initiated ?? progress.start),
            initiatorSeconds: seconds(progress.initiatorDone),
            responderSeconds: seconds(progress.responderDone),
            dhGroup: group)
    }

    /// Deletes the round's IKE SAs on the initiator (which sends the Deletes
    /// to the responder) and waits until both sides are back where they were.
    private func clear(
        _ tunnelIDs: [Int], initiatorBefore: GatewayCounts, responderBefore: GatewayCounts
    )
        throws
    {
        let loop = EventLoop()
        let negotiator = try BusClient(
            service: .ikeNegotiator, runDirectory: settings.initiatorRunDirectory,
            sender: "tagline-bench")
        var next = 0
        var outstanding = 0
        var failures: [String] = []
        // A window of requests, because ZeroMQ refuses to queue more than its
        // high-water mark (1000 messages by default) on one socket.
        func sendMore() {
            while outstanding < IKERateBenchmark.clearWindow, next < tunnelIDs.count {
                let tunnelID = tunnelIDs[next]
                next += 1
                outstanding += 1
                negotiator.send(
                    MessageType.ikeClear, ClearRequest(tunnelID: tunnelID), as: EmptyReply.self,
                    timeout: settings.timeout, loop: loop
                ) { result in
                    if case .failure(let error) = result {
                        failures.append("\(tunnelID): \(error)")
                    }
                    outstanding -= 1
                    sendMore()
                    if outstanding == 0 { loop.stop() }
                }
            }
        }
        sendMore()
        if outstanding > 0 { loop.run() }
        if !failures.isEmpty {
            throw BenchError(
                "clearing \(failures.count) IKE SAs failed, first: \(failures[0])")
        }
        let deadline = monotonicNanoseconds() + UInt64(settings.timeout * 1e9)
        while true {
            let initiator = try GatewayCounts.read(settings.initiatorRunDirectory, timeout: 10)
            let responder = try GatewayCounts.read(settings.responderRunDirectory, timeout: 10)
            if initiator.tunnelIDs == initiatorBefore.tunnelIDs,
                initiator.childSPIs == initiatorBefore.childSPIs,
                responder.tunnelIDs == responderBefore.tunnelIDs,
                responder.childSPIs == responderBefore.childSPIs
            {
                return
            }
            guard monotonicNanoseconds() < deadline else {
                throw BenchError(
                    "the cleared IKE SAs did not go away within \(Int(settings.timeout)) s: "
                        + "initiator \(initiator.tunnelIDs.count) IKE SAs and "
                        + "\(initiator.childSPIs.count) Child SAs, responder "
                        + "\(responder.tunnelIDs.count) and \(responder.childSPIs.count)")
            }
            usleep(UInt32(IKERateBenchmark.pollInterval * 1e6))
        }
    }

    // MARK: Output

    private func report(_ rounds: [IKERateRound]) {
        let rates = rounds.map(\.ratePerSecond).sorted()
        let middle = rates.count / 2
        let median = rates.count % 2 == 1 ? rates[middle] : (rates[middle - 1] + rates[middle]) / 2
        let group = rounds[0].dhGroup
        if settings.json {
            let fields: [(String, String)] = [
                ("bench", "\"tagline-ike-rate\""), ("system", "\"tagline\""),
                ("group", "\(group)"), ("n", "\(settings.count)"),
                ("sas_per_s", fixed(median)), ("child_sas", "1"),
                ("rounds", "\(rounds.count)"), ("min", fixed(rates[0])),
                ("max", fixed(rates[rates.count - 1])),
                (
                    "round_rates",
                    "[" + rounds.map { fixed($0.ratePerSecond) }.joined(separator: ",") + "]"
                ),
            ]
            print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        } else {
            print(
                "tagline ike-sa-rate group=\(group) n=\(settings.count) sas_per_s=\(fixed(median)) "
                    + "child_sas=1 rounds=\(rounds.count) min=\(fixed(rates[0])) "
                    + "max=\(fixed(rates[rates.count - 1]))")
        }
        fflush(stdout)
    }
}

/// The progress of one round, as its events show it.
struct RoundProgress {
    let count: Int
    var start: UInt64 = 0
    var initiated: UInt64?
    var initiatorIKE: Set<Int> = []
    var responderIKE: Set<Int> = []
    var initiatorChildren: Set<UInt32> = []
    var responderChildren: Set<UInt32> = []
    var initiatorDone: UInt64 = 0
    var responderDone: UInt64 = 0
    /// When the event that completed all four counts arrived.
    var completedAt: UInt64?

    init(count: Int) { self.count = count }

    mutating func ikeUp(_ tunnelID: Int, initiator: Bool) {
        let now = monotonicNanoseconds()
        if initiator {
            initiatorIKE.insert(tunnelID)
            if initiatorIKE.count == count { initiatorDone = now }
        } else {
            responderIKE.insert(tunnelID)
            if responderIKE.count == count { responderDone = now }
        }
        noteCompletion(at: now)
    }

    mutating func childUp(_ spi: UInt32, initiator: Bool) {
        if initiator {
            initiatorChildren.insert(spi)
        } else {
            responderChildren.insert(spi)
        }
        noteCompletion(at: monotonicNanoseconds())
    }

    private mutating func noteCompletion(at now: UInt64) {
        if completedAt == nil, isComplete { completedAt = now }
    }

    var isComplete: Bool {
        initiatorIKE.count >= count && responderIKE.count >= count
            && initiatorChildren.count >= count && responderChildren.count >= count
    }

    var summary: String {
        "IKE SAs up: initiator \(initiatorIKE.count), responder \(responderIKE.count) of "
            + "\(count); Child SAs installed: initiator \(initiatorChildren.count), responder "
            + "\(responderChildren.count)"
    }
}

/// Formats `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int = 1) -> String {
    String(format: "%.\(digits)f", value)
}

func log(_ message: String) {
    fputs("tagline-bench: \(message)\n", stderr)
}
