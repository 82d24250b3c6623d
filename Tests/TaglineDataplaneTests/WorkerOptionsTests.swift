import CTaglineShim
import XCTest

@testable import TaglineDataplane

final class WorkerOptionsTests: XCTestCase {
    func testParsesCPULists() throws {
        let cases: [(text: String, cpus: [Int])] = [
            ("0", [0]),
            ("0,1", [0, 1]),
            ("0-1", [0, 1]),
            ("3,0-2", [3, 0, 1, 2]),
            ("1023", [1023]),
        ]
        for (text, cpus) in cases {
            XCTAssertEqual(try CPUList.parse(text), cpus, text)
        }
    }

    func testRejectsBadCPULists() {
        for text in ["", "a", "0,", ",1", "1-0", "0-", "-1", "0--1", "1024", "0,0", "0-2,1", "+1"] {
            XCTAssertThrowsError(try CPUList.parse(text), "'\(text)'")
        }
    }

    func testChecksAllowedSet() throws {
        XCTAssertNoThrow(try CPUList.checkAllowed([]))
        // The first allowed CPU passes. CPU 1023 lies outside the set on any machine with fewer CPUs.
        let first = try XCTUnwrap(
            (0...CPUList.maximumCPU).first { tagline_cpu_allowed(Int32($0)) == 1 })
        XCTAssertNoThrow(try CPUList.checkAllowed([first]))
        XCTAssertThrowsError(try CPUList.checkAllowed([first, 1023])) { error in
            XCTAssertTrue(
                "\(error)".hasPrefix("CPU 1023 is not in this process's allowed CPU set; use "),
                "\(error)")
        }
    }

    func testIdleTimeBounds() {
        XCTAssertEqual(WorkerOptions().idleNanoseconds, 200_000)
        XCTAssertEqual(WorkerOptions(idleMicroseconds: 0).idleNanoseconds, 0)
        XCTAssertEqual(WorkerOptions(idleMicroseconds: -5).idleNanoseconds, 0)
        XCTAssertEqual(WorkerOptions(idleMicroseconds: .max).idleNanoseconds, 10_000_000_000)
    }

    func testRXRingSizes() {
        XCTAssertEqual(RXRingConfiguration().blockCount, 128)
        XCTAssertEqual(RXRingConfiguration(mebibytes: 16).blockCount, 128)
        XCTAssertEqual(RXRingConfiguration(mebibytes: 1).blockCount, 8)
        XCTAssertEqual(RXRingConfiguration(mebibytes: 0).blockCount, 8)
        XCTAssertEqual(
            RXRingConfiguration(mebibytes: 4096).blockCount,
            RXRingConfiguration.maximumMebibytes * 8)
        XCTAssertEqual(RXRingConfiguration().retireTimeoutMilliseconds, 1)
    }
}
