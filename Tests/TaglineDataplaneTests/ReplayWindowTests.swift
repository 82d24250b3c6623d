import XCTest

@testable import TaglineDataplane

final class ReplayWindowTests: XCTestCase {
    /// Each row records one sequence number into a window of 64 packets, in order.
    func testWindowTable() {
        let rows: [(sequence: UInt32, expected: ReplayWindow.Verdict, note: String)] = [
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
            (UInt32.max, .accept, "top of the 32-bit space"),
            (UInt32.max, .duplicate, "top again"),
            (UInt32.max - 63, .accept, "left edge at the top"),
            (UInt32.max - 64, .tooOld, "one past the left edge at the top"),
        ]
        var window = ReplayWindow(size: 64)
        for (index, row) in rows.enumerated() {
            let checked = window.check(row.sequence)
            let recorded = window.record(row.sequence)
            XCTAssertEqual(checked, recorded, "row \(index): check and record disagree")
            XCTAssertEqual(recorded, row.expected, "row \(index): \(row.note)")
        }
    }

    func testDefaultSizeIs1024() {
        var window = ReplayWindow()
        XCTAssertEqual(window.size, 1024)
        XCTAssertEqual(window.record(2000), .accept)
        XCTAssertEqual(window.record(977), .accept)
        XCTAssertEqual(window.record(976), .tooOld)
    }

    func testCheckDoesNotRecord() {
        var window = ReplayWindow(size: 128)
        XCTAssertEqual(window.check(5), .accept)
        XCTAssertEqual(window.check(5), .accept)
        XCTAssertEqual(window.highest, 0)
        window.record(5)
        XCTAssertEqual(window.check(5), .duplicate)
    }

    func testSizeRoundsUpToBlocks() {
        XCTAssertEqual(ReplayWindow(size: 100).size, 128)
    }

    func testEveryNumberOnceInOrderAndReversed() {
        var window = ReplayWindow(size: 256)
        for sequence in stride(from: UInt32(300), through: 45, by: -1) {
            XCTAssertEqual(window.record(sequence), .accept, "sequence \(sequence)")
        }
        XCTAssertEqual(window.record(44), .tooOld)
        for sequence in UInt32(45)...300 {
            XCTAssertEqual(window.record(sequence), .duplicate, "sequence \(sequence)")
        }
    }
}
