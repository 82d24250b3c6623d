import XCTest

@testable import TaglineDataplane

final class ReplayWindowTests: XCTestCase {
    /// Each row records one sequence number into a window of 64 packets, in order.
    func testWindowTable() {
        let rows: [(sequence: UInt64, expected: ReplayWindow.Verdict, note: String)] = [
            (0, .zero, "zero is never sent"),
            (1, .accept, "first packet"),
            (1, .duplicate, "same packet again"),
            (3, .accept, "a gap is fine"),
            (2, .accept, "late packet inside the window"),
            (2, .duplicate, "late packet again"),
            (64, .accept, "right edge moves to 64"),
            (1, .duplicate, "64 - 1 = 63, so 1 is still inside the window"),
            (100, .accept, "slide by 36"),
            (36, .tooOld, "100 - 36 = 64, left of the window"),
            (37, .accept, "left edge of the window"),
            (37, .duplicate, "left edge again"),
            (99, .accept, "just below the right edge"),
            (1000, .accept, "jump past the whole window"),
            (999, .accept, "bits from before the jump were cleared"),
            (100, .tooOld, "far left of the window"),
            (0xFFFF_FFFF, .accept, "top of the 32-bit space"),
            (0xFFFF_FFFF, .duplicate, "top again"),
            (0xFFFF_FFFF - 63, .accept, "left edge at the top"),
            (0xFFFF_FFFF - 64, .tooOld, "one past the left edge at the top"),
        ]
        let window = ReplayWindow(size: 64)
        for (index, row) in rows.enumerated() {
            let checked = window.check(row.sequence)
            let recorded = window.record(row.sequence)
            XCTAssertEqual(checked, recorded, "row \(index): check and record disagree")
            XCTAssertEqual(recorded, row.expected, "row \(index): \(row.note)")
        }
    }

    /// The same rows, written in terms of the width `w`, for each supported size.
    func testSizesTable() {
        typealias Row = (sequence: (UInt64) -> UInt64, expected: ReplayWindow.Verdict, note: String)
        let rows: [Row] = [
            ({ _ in 0 }, .zero, "zero"),
            ({ _ in 1 }, .accept, "in order: first"),
            ({ _ in 2 }, .accept, "in order: second"),
            ({ _ in 1 }, .duplicate, "duplicate"),
            ({ w in w }, .accept, "right edge at w"),
            ({ _ in 1 }, .duplicate, "w - 1 below the edge is still inside"),
            ({ w in w + 1 }, .accept, "right edge at w + 1"),
            ({ _ in 1 }, .tooOld, "w below the edge is out of window"),
            ({ _ in 3 }, .accept, "left edge, never seen"),
            ({ _ in 3 }, .duplicate, "left edge again"),
            ({ w in 10 * w }, .accept, "far ahead"),
            ({ w in 9 * w + 1 }, .accept, "left edge after the jump, cleared"),
            ({ w in 9 * w }, .tooOld, "just out of window after the jump"),
            ({ w in w + 1 }, .tooOld, "old right edge"),
            ({ w in 10 * w }, .duplicate, "right edge again"),
        ]
        for size in [32, 64, 1024, 4096] {
            let window = ReplayWindow(size: size)
            XCTAssertEqual(window.size, size)
            for (index, row) in rows.enumerated() {
                let sequence = row.sequence(UInt64(size))
                XCTAssertEqual(
                    window.check(sequence), row.expected, "size \(size) row \(index): check")
                XCTAssertEqual(
                    window.record(sequence), row.expected, "size \(size) row \(index): \(row.note)")
            }
        }
    }

    /// ESN rows across the wrap of the low 32 bits: `low` is what the packet carries,
    /// `full` the number the window infers. Rows marked `forged` stand for packets whose
    /// ICV fails, so they are checked but never recorded.
    func testExtendedWrapTable() {
        typealias Row = (
            low: (UInt32) -> UInt32, full: (UInt64) -> UInt64, expected: ReplayWindow.Verdict,
            forged: Bool, note: String
        )
        let top: UInt64 = 0xFFFF_FFFF
        let rows: [Row] = [
            ({ w in .max - w / 2 }, { w in top - w / 2 }, .accept, false, "below the top"),
            ({ _ in .max }, { _ in top }, .accept, false, "top of the first subspace"),
            ({ _ in 2 }, { _ in 1 << 32 | 2 }, .accept, false, "wrap: high bits become 1"),
            ({ _ in .max }, { _ in top }, .duplicate, false, "window spans the wrap: high 0"),
            ({ _ in .max - 1 }, { _ in top - 1 }, .accept, false, "late, before the wrap"),
            ({ _ in 1 }, { _ in 1 << 32 | 1 }, .accept, false, "late, after the wrap"),
            ({ _ in 2 }, { _ in 1 << 32 | 2 }, .duplicate, false, "after the wrap again"),
            ({ w in .max - w / 2 }, { w in top - w / 2 }, .duplicate, false, "first row again"),
            ({ w in .max - w + 4 }, { w in top - w + 4 }, .accept, false, "left edge"),
            (
                { w in .max - w + 3 }, { w in 1 << 32 | (top - w + 3) }, .accept, true,
                "below the left edge reads as the next subspace"
            ),
            ({ w in w }, { w in 1 << 32 | w }, .accept, false, "window in one subspace"),
            ({ _ in 1 }, { _ in 1 << 32 | 1 }, .duplicate, false, "left edge, recorded"),
            ({ _ in 0 }, { _ in 2 << 32 }, .accept, true, "low 0 below the edge: next subspace"),
            ({ _ in .max }, { _ in 1 << 32 | top }, .accept, true, "far ahead, same subspace"),
        ]
        for size in [32, 64, 1024, 4096] {
            let window = ReplayWindow(size: size, extendedSequenceNumbers: true)
            for (index, row) in rows.enumerated() {
                let label = "size \(size) row \(index): \(row.note)"
                let full = window.infer(low: row.low(UInt32(size)))
                XCTAssertEqual(full, row.full(UInt64(size)), "\(label): inferred")
                if row.forged {
                    XCTAssertEqual(window.check(full), row.expected, label)
                } else {
                    XCTAssertEqual(window.record(full), row.expected, label)
                }
            }
            XCTAssertEqual(window.highest, 1 << 32 | UInt64(size), "size \(size): highest")
        }
    }

    func testInferStartsInFirstSubspace() {
        let window = ReplayWindow(size: 64, extendedSequenceNumbers: true)
        XCTAssertEqual(window.infer(low: 1), 1)
        XCTAssertEqual(window.infer(low: .max), 0xFFFF_FFFF)
    }

    func testInferHighSubspace() {
        let window = ReplayWindow(size: 128, extendedSequenceNumbers: true)
        window.record(0x7_0000_0010)
        XCTAssertEqual(window.infer(low: 0x20), 0x7_0000_0020)
        XCTAssertEqual(window.infer(low: 0xFFFF_FFA0), 0x6_FFFF_FFA0)
        XCTAssertEqual(window.infer(low: 0xFFFF_FF00), 0x7_FFFF_FF00)
    }

    func testWithoutESNNoWrap() {
        let window = ReplayWindow(size: 64)
        XCTAssertEqual(window.record(0xFFFF_FFFF), .accept)
        XCTAssertEqual(window.infer(low: 2), 2)
        XCTAssertEqual(window.record(window.infer(low: 2)), .tooOld)
    }

    func testDefaultSizeIs1024() {
        let window = ReplayWindow()
        XCTAssertEqual(window.size, 1024)
        XCTAssertEqual(window.record(2000), .accept)
        XCTAssertEqual(window.record(977), .accept)
        XCTAssertEqual(window.record(976), .tooOld)
    }

    func testCheckDoesNotRecord() {
        let window = ReplayWindow(size: 128)
        XCTAssertEqual(window.check(5), .accept)
        XCTAssertEqual(window.check(5), .accept)
        XCTAssertEqual(window.highest, 0)
        window.record(5)
        XCTAssertEqual(window.check(5), .duplicate)
    }

    func testSizeIsExactAndClamped() {
        XCTAssertEqual(ReplayWindow(size: 100).size, 100)
        XCTAssertEqual(ReplayWindow(size: 8).size, ReplayWindow.minimumSize)
        XCTAssertEqual(ReplayWindow(size: 1 << 20).size, ReplayWindow.maximumSize)
        let window = ReplayWindow(size: 100)
        window.record(200)
        XCTAssertEqual(window.check(100), .tooOld)
        XCTAssertEqual(window.check(101), .accept)
    }

    func testEveryNumberOnceInOrderAndReversed() {
        let window = ReplayWindow(size: 256)
        for sequence in stride(from: UInt64(300), through: 45, by: -1) {
            XCTAssertEqual(window.record(sequence), .accept, "sequence \(sequence)")
        }
        XCTAssertEqual(window.record(44), .tooOld)
        for sequence in UInt64(45)...300 {
            XCTAssertEqual(window.record(sequence), .duplicate, "sequence \(sequence)")
        }
    }
}
