import TaglineCore
import XCTest

@testable import TaglineDataplane

final class FragmentReassemblerTests: XCTestCase {
    private let key = FragmentKey(
        source: IPAddress("198.51.100.2")!, destination: IPAddress("198.51.100.1")!,
        identification: 7, ipProtocol: 50)

    private func add(
        _ reassembler: FragmentReassembler, offset: Int, length: Int, more: Bool,
        now: UInt64 = 0, key: FragmentKey? = nil
    ) -> FragmentReassembler.Outcome {
        let data = (0..<length).map { UInt8(truncatingIfNeeded: offset + $0) }
        let fragment = FragmentInfo(
            key: key ?? self.key, offset: offset, more: more, dataOffset: 0, dataLength: length)
        return data.withUnsafeBytes { reassembler.add(fragment, data: $0, now: now) }
    }

    private func describe(_ outcome: FragmentReassembler.Outcome) -> String {
        switch outcome {
        case .incomplete: return "incomplete"
        case .invalid: return "invalid"
        case .complete(let bytes): return "complete \(bytes.count)"
        }
    }

    /// Each row adds one fragment of the same datagram, in order of the rows.
    func testFragmentTable() {
        let rows: [(offset: Int, length: Int, more: Bool, expected: String, note: String)] = [
            (16, 16, true, "incomplete", "middle first"),
            (40, 4, false, "incomplete", "last fragment, hole at 32..<40"),
            (0, 16, true, "incomplete", "first fragment, hole still open"),
            (32, 8, true, "complete 44", "hole filled"),
            (0, 8, true, "incomplete", "a new datagram with the same key starts over"),
            (4, 8, true, "invalid", "overlaps 0..<8"),
            (0, 8, true, "incomplete", "discarded datagram starts over again"),
            (8, 5, true, "invalid", "a fragment with MF must carry a multiple of 8 bytes"),
            (0, 8, true, "incomplete", "start over"),
            (8, 8, false, "complete 16", "two fragments"),
            (0, 8, true, "incomplete", "start over"),
            (16, 8, false, "incomplete", "end at 24"),
            (24, 8, true, "invalid", "data past the known end"),
            (65528, 16, false, "invalid", "past 65535 bytes"),
        ]
        let reassembler = FragmentReassembler()
        for (index, row) in rows.enumerated() {
            let outcome = add(reassembler, offset: row.offset, length: row.length, more: row.more)
            XCTAssertEqual(describe(outcome), row.expected, "row \(index): \(row.note)")
        }
    }

    /// Checks that a fragment delivered twice leaves the datagram to complete, while a copy
    /// with other bytes or another end is an overlap.
    func testDuplicateFragments() {
        let rows: [(offset: Int, length: Int, more: Bool, expected: String, note: String)] = [
            (0, 16, true, "incomplete", "first fragment"),
            (0, 16, true, "incomplete", "exact copy of the first"),
            (24, 8, false, "incomplete", "last fragment"),
            (24, 8, false, "incomplete", "exact copy of the last"),
            (16, 8, true, "complete 32", "hole filled"),
            (0, 16, true, "incomplete", "a new datagram"),
            (0, 16, false, "invalid", "same range, but now the last fragment"),
        ]
        let reassembler = FragmentReassembler()
        for (index, row) in rows.enumerated() {
            let outcome = add(reassembler, offset: row.offset, length: row.length, more: row.more)
            XCTAssertEqual(describe(outcome), row.expected, "row \(index): \(row.note)")
        }

        // Same range, other bytes: an overlap that could change the datagram.
        XCTAssertEqual(describe(add(reassembler, offset: 0, length: 16, more: true)), "incomplete")
        let other = FragmentInfo(key: key, offset: 0, more: true, dataOffset: 0, dataLength: 16)
        let outcome = [UInt8](repeating: 0xAA, count: 16).withUnsafeBytes {
            reassembler.add(other, data: $0, now: 0)
        }
        XCTAssertEqual(describe(outcome), "invalid")
        XCTAssertEqual(reassembler.pendingCount, 0)
    }

    func testCompletePayloadIsInOrder() {
        let reassembler = FragmentReassembler()
        _ = add(reassembler, offset: 24, length: 3, more: false)
        _ = add(reassembler, offset: 8, length: 16, more: true)
        guard case .complete(let bytes) = add(reassembler, offset: 0, length: 8, more: true) else {
            return XCTFail("datagram not complete")
        }
        XCTAssertEqual(bytes, (0..<27).map { UInt8($0) })
        XCTAssertEqual(reassembler.pendingCount, 0)
    }

    func testTimeoutDiscardsDatagram() {
        let reassembler = FragmentReassembler(timeoutNanoseconds: 1000)
        _ = add(reassembler, offset: 0, length: 8, more: true, now: 0)
        // The rest arrives after the timeout: the first fragment is gone.
        XCTAssertEqual(
            describe(add(reassembler, offset: 8, length: 8, more: false, now: 2000)),
            "incomplete")
        XCTAssertEqual(reassembler.takeDiscarded().timedOut, 1)
        XCTAssertEqual(reassembler.takeDiscarded().timedOut, 0)
    }

    func testOldestDatagramEvictedWhenFull() {
        let reassembler = FragmentReassembler(maximumDatagrams: 2)
        for identification in UInt32(1)...3 {
            var other = key
            other.identification = identification
            _ = add(
                reassembler, offset: 0, length: 8, more: true, now: UInt64(identification),
                key: other)
        }
        XCTAssertEqual(reassembler.pendingCount, 2)
        XCTAssertEqual(reassembler.takeDiscarded().evicted, 1)
    }
}
