// Events from a service's PUB socket to a subscribing service.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class PubSubTests: XCTestCase {
    func testSubscriberGetsEventsOfItsType() throws {
        let runDirectory = makeRunDirectory()
        defer { removeDirectory(runDirectory) }
        let loop = EventLoop(handlesSignals: false)
        let dataplane = try ServiceBus(
            service: .dataplane, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("dataplane-tagger"))
        let manager = try ServiceBus(
            service: .saManager, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("sa-manager"))
        defer {
            dataplane.shutdown()
            manager.shutdown()
        }

        var reports: [CounterReport] = []
        var senders: Set<String> = []
        manager.subscribe(to: .dataplane, type: MessageType.counterReport) {
            (report: CounterReport, envelope: Envelope) in
            reports.append(report)
            senders.insert(envelope.sender)
        }
        var debugLines = 0
        manager.subscribe(to: .dataplane, type: MessageType.debugSGT) { (_: DebugLine, _) in
            debugLines += 1
        }

        // A subscription takes effect a moment after connecting (the slow
        // joiner), so keep publishing until the first report arrives.
        var counters = SACounters()
        counters.encaps = 7
        let report = CounterReport(
            counters: ["4096": counters], drops: ["noSA": 2],
            dataplaneStartedAt: 1000)
        let arrived = spin(loop) {
            dataplane.publish(MessageType.counterReport, report)
            dataplane.publish("dp.other", EmptyReply())
            return !reports.isEmpty
        }
        XCTAssertTrue(arrived)
        XCTAssertEqual(reports.first?.counters["4096"]?.encaps, 7)
        XCTAssertEqual(reports.first?.drops["noSA"], 2)
        XCTAssertEqual(senders, ["dataplane-tagger"])
        XCTAssertEqual(debugLines, 0)
    }

    func testDebugLinesOnlyWhileEnabled() throws {
        let runDirectory = makeRunDirectory()
        defer { removeDirectory(runDirectory) }
        let loop = EventLoop(handlesSignals: false)
        let dataplane = try ServiceBus(
            service: .dataplane, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("dataplane-tagger"))
        let listener = try ServiceBus(
            service: .saManager, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("sa-manager"))
        defer {
            dataplane.shutdown()
            listener.shutdown()
        }
        var lines: [String] = []
        listener.subscribe(to: .dataplane, type: MessageType.debugSGT) {
            (line: DebugLine, _) in lines.append(line.text)
        }
        var switched: [String: Bool] = [:]
        dataplane.onDebugSet = { switched[$0] = $1 }

        let category = "crypto ipsec metadata sgt"
        spin(loop, timeout: 0.3) { false }
        dataplane.publishDebug(MessageType.debugSGT, category: category, "dropped while off")

        var done = false
        listener.client(.dataplane).send(
            MessageType.debugSet, DebugSetRequest(category: category, enabled: true),
            as: EmptyReply.self, timeout: 2, loop: loop
        ) { _ in done = true }
        XCTAssertTrue(spin(loop) { done })
        XCTAssertEqual(switched[category], true)
        XCTAssertTrue(dataplane.isDebugEnabled(category))

        XCTAssertTrue(
            spin(loop) {
                dataplane.publishDebug(
                    MessageType.debugSGT, category: category,
                    "IPsec SGT:: inserted SGT = 333 for src ip 192.0.2.10")
                return !lines.isEmpty
            })
        XCTAssertFalse(lines.contains("dropped while off"))
        XCTAssertEqual(lines.first, "IPsec SGT:: inserted SGT = 333 for src ip 192.0.2.10")
    }
}
