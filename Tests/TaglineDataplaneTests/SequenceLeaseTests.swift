import XCTest

@testable import TaglineDataplane

final class SequenceLeaseTests: XCTestCase {
    /// Each row grants a lease (or none), then takes `take` numbers.
    func testLeaseTable() {
        let rows: [(lease: SequenceLease?, take: Int, expected: [UInt64?], note: String)] = [
            (nil, 1, [nil], "no lease yet"),
            (SequenceLease(first: 1, count: 3), 4, [1, 2, 3, nil], "first lease, then empty"),
            (SequenceLease(first: 4, count: 2), 2, [4, 5], "contiguous lease extends the first"),
            (SequenceLease(first: 10, count: 2), 3, [10, 11, nil], "gap: skips to the lease"),
            (SequenceLease(first: 5, count: 3), 1, [nil], "lease below the granted end is ignored"),
            (SequenceLease(first: 20, count: 2), 1, [20], "new lease after exhaustion"),
            (SequenceLease(first: 22, count: 2), 2, [21, 22], "extension keeps the current lease"),
        ]
        let sequence = OutboundSequence()
        for (index, row) in rows.enumerated() {
            if let lease = row.lease { sequence.grant(lease) }
            let taken = (0..<row.take).map { _ in sequence.next() }
            XCTAssertEqual(taken, row.expected, "row \(index): \(row.note)")
        }
    }

    func testStopsAt32BitMaximum() {
        let sequence = OutboundSequence()
        sequence.grant(SequenceLease(first: UInt64(UInt32.max) - 1, count: 10))
        XCTAssertEqual(sequence.next(), UInt64(UInt32.max) - 1)
        XCTAssertEqual(sequence.next(), UInt64(UInt32.max))
        XCTAssertNil(sequence.next())
        XCTAssertEqual(sequence.remaining, 0)
    }

    func testExtendedCrosses32BitBoundary() {
        let sequence = OutboundSequence(maximum: OutboundSequence.extendedMaximum)
        sequence.grant(SequenceLease(first: UInt64(UInt32.max) - 1, count: 4))
        XCTAssertEqual(sequence.next(), 0xFFFF_FFFE)
        XCTAssertEqual(sequence.next(), 0xFFFF_FFFF)
        XCTAssertEqual(sequence.next(), 0x1_0000_0000)
        XCTAssertEqual(sequence.next(), 0x1_0000_0001)
        XCTAssertNil(sequence.next())
    }

    func testExtendedStopsBelow64BitMaximum() {
        let sequence = OutboundSequence(maximum: OutboundSequence.extendedMaximum)
        sequence.grant(SequenceLease(first: UInt64.max - 2, count: 10))
        XCTAssertEqual(sequence.next(), UInt64.max - 2)
        XCTAssertEqual(sequence.next(), UInt64.max - 1)
        XCTAssertNil(sequence.next())
        XCTAssertEqual(sequence.remaining, 0)
    }

    func testRemainingCountsDown() {
        let sequence = OutboundSequence()
        sequence.grant(SequenceLease(first: 1, count: 100))
        XCTAssertEqual(sequence.remaining, 100)
        _ = sequence.next()
        XCTAssertEqual(sequence.remaining, 99)
    }

    func testLeaseEndSaturates() {
        XCTAssertEqual(SequenceLease(first: UInt64.max - 1, count: 5).end, UInt64.max)
    }
}
