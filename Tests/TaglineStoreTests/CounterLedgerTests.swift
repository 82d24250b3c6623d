// Counter totals across dataplane restarts.

import TaglineCore
import TaglineStore
import XCTest

final class CounterLedgerTests: XCTestCase {
    private func report(_ started: Double, _ encaps: [String: UInt64]) -> CounterReport {
        var counters: [String: SACounters] = [:]
        for (key, value) in encaps {
            var entry = SACounters()
            entry.encaps = value
            entry.decaps = value * 2
            counters[key] = entry
        }
        return CounterReport(counters: counters, drops: ["noSA": 1], dataplaneStartedAt: started)
    }

    func testTotalsAcrossRestartsTable() {
        // Each step: report start time, totals for SA 100, expected total afterwards.
        let steps: [(started: Double, reported: UInt64, total: UInt64)] = [
            (1000, 5, 5),  // first run
            (1000, 9, 9),  // same run: the report replaces
            (1000, 12, 12),
            (2000, 3, 15),  // restart: 12 from run 1 kept, 3 from run 2
            (2000, 7, 19),
            (1000, 50, 19),  // stale report of run 1: ignored
            (3000, 0, 19),  // another restart with nothing counted yet
            (3000, 1, 20),
        ]
        var ledger = CounterLedger()
        for (index, step) in steps.enumerated() {
            _ = ledger.apply(report(step.started, ["100": step.reported]))
            XCTAssertEqual(ledger.total(inboundSPI: 100).encaps, step.total, "step \(index)")
            XCTAssertEqual(ledger.total(inboundSPI: 100).decaps, step.total * 2, "step \(index)")
        }
    }

    func testStaleReportAndBadKeys() {
        var ledger = CounterLedger()
        XCTAssertEqual(ledger.apply(report(2000, ["100": 1, "x": 5, "-1": 3])), [100])
        XCTAssertNil(ledger.apply(report(1000, ["100": 9])))
        XCTAssertEqual(ledger.drops, ["noSA": 1])
    }

    func testRestartReportsFoldedSAs() {
        var ledger = CounterLedger()
        _ = ledger.apply(report(1000, ["100": 4, "200": 6]))
        let changed = ledger.apply(report(2000, ["100": 1]))
        // SA 200 moved into the base, so its row changed although the report omits it.
        XCTAssertEqual(changed, [100, 200])
        XCTAssertEqual(ledger.total(inboundSPI: 200).encaps, 6)
        ledger.remove(inboundSPI: 200)
        XCTAssertEqual(ledger.total(inboundSPI: 200).encaps, 0)
    }
}
