// The per-reason rate limit of drop log lines: the first lines of an
// interval are logged, the rest are counted and summed up when it ends.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class DropLogLimiterTests: XCTestCase {
    func testBurstThenSummary() {
        // Burst 2, interval 10 s. Each row: time, reason, logged one by one?
        var limiter = DropLogLimiter(burst: 2, interval: 10)
        let rows: [(Double, String, Bool)] = [
            (0, "a", true),
            (1, "a", true),
            (2, "a", false),
            (3, "b", true),
            (9.9, "a", false),
        ]
        for (index, (time, reason, logged)) in rows.enumerated() {
            XCTAssertEqual(limiter.endIntervals(at: time), [], "row \(index)")
            XCTAssertEqual(
                limiter.shouldLog(reason, level: .warning, at: time), logged, "row \(index)")
        }
        XCTAssertEqual(limiter.nextSummaryDeadline, 10)

        // At 10 s the interval of "a" ends with 2 lines left out; "b" had none left out.
        XCTAssertEqual(
            limiter.endIntervals(at: 10),
            [DropLogLimiter.Summary(reason: "a", level: .warning, suppressed: 2)])
        XCTAssertNil(limiter.nextSummaryDeadline)
        XCTAssertTrue(limiter.shouldLog("a", level: .warning, at: 10))

        // The interval of "b" started at 3 s: its second line is logged, its third is not.
        XCTAssertTrue(limiter.shouldLog("b", level: .info, at: 12))
        XCTAssertFalse(limiter.shouldLog("b", level: .info, at: 12.5))
        XCTAssertEqual(
            limiter.endIntervals(at: 13),
            [DropLogLimiter.Summary(reason: "b", level: .warning, suppressed: 1)])
    }

    func testQuietReasonOwesNoSummary() {
        var limiter = DropLogLimiter(burst: 5, interval: 60)
        for time in [0.0, 1, 2] {
            XCTAssertTrue(limiter.shouldLog("unknown SPI", level: .debug, at: time))
        }
        XCTAssertNil(limiter.nextSummaryDeadline)
        XCTAssertEqual(limiter.endIntervals(at: 60), [])
    }
}
