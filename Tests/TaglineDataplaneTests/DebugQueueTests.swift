import TaglineCore
import XCTest

@testable import TaglineDataplane

final class DebugQueueTests: XCTestCase {
    func testQueueIsFIFOAndBounded() {
        let queue = SPSCQueue(capacity: 3, filler: 0)
        XCTAssertTrue(queue.push(1))
        XCTAssertTrue(queue.push(2))
        XCTAssertTrue(queue.push(3))
        XCTAssertFalse(queue.push(4), "full")
        XCTAssertEqual(queue.pop(), 1)
        XCTAssertTrue(queue.push(5))
        XCTAssertEqual([queue.pop(), queue.pop(), queue.pop(), queue.pop()], [2, 3, 5, nil])
    }

    func testQueueAcrossThreads() {
        let queue = SPSCQueue(capacity: 64, filler: 0)
        let count = 100_000
        let producer = Thread {
            var next = 0
            while next < count {
                if queue.push(next) { next += 1 }
            }
        }
        producer.start()
        var expected = 0
        while expected < count {
            if let value = queue.pop() {
                XCTAssertEqual(value, expected)
                if value != expected { break }
                expected += 1
            }
        }
        XCTAssertEqual(expected, count)
    }

    func testLineFormat() {
        let inserted = SGTDebugEvent(kind: .inserted, sgt: 333, source: IPAddress("192.0.2.2")!)
        XCTAssertEqual(inserted.line, "IPsec SGT:: inserted SGT = 333 for src ip 192.0.2.2")
        let extracted = SGTDebugEvent(kind: .extracted, sgt: 400, source: IPAddress("10.0.0.1")!)
        XCTAssertEqual(extracted.line, "IPsec SGT:: extracted SGT = 400 for src ip 10.0.0.1")
    }

    func testRateLimiterTable() {
        // Each row: time in ms and the expected decision; limit 3 lines a second.
        var limiter = DebugRateLimiter(maximumPerSecond: 3)
        let second: UInt64 = 1_000_000_000
        let rows: [(ms: UInt64, admit: Bool, summary: String?)] = [
            (1000, true, nil),
            (1100, true, nil),
            (1200, true, nil),
            (1300, false, nil),
            (1400, false, nil),
            (2100, true, "IPsec SGT:: 2 debug lines suppressed (limit 3/s)"),
            (2200, true, nil),
        ]
        for (index, row) in rows.enumerated() {
            let result = limiter.admit(now: row.ms * second / 1000)
            XCTAssertEqual(result.admit, row.admit, "row \(index)")
            XCTAssertEqual(result.summary, row.summary, "row \(index)")
        }
    }

    func testLimiterReportsIdleSuppression() {
        var limiter = DebugRateLimiter(maximumPerSecond: 1)
        _ = limiter.admit(now: 1_000_000_000)
        _ = limiter.admit(now: 1_100_000_000)
        XCTAssertNil(limiter.flushIfWindowEnded(now: 1_500_000_000))
        XCTAssertEqual(
            limiter.flushIfWindowEnded(now: 2_100_000_000),
            "IPsec SGT:: 1 debug lines suppressed (limit 1/s)")
        XCTAssertNil(limiter.flushIfWindowEnded(now: 2_200_000_000))
    }

    func testLostEventsAreCounted() {
        let context = DataplaneContext(
            workerCount: 1, forwarding: Lab.forwarding(gw1: true),
            debugQueueCapacity: 2)
        context.debugEnabled = true
        let pipeline = Pipeline(worker: 0, context: context)
        for _ in 0..<5 { pipeline.reportDebug(.inserted, sgt: 1, source: Lab.hostA) }
        XCTAssertEqual(context.takeLostDebugEvents(), 3)
        XCTAssertEqual(context.takeLostDebugEvents(), 0)
    }
}
