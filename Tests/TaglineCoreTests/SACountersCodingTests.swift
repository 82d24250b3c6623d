import Foundation
import XCTest

@testable import TaglineCore

/// SACounters from JSON: a counter missing from an older sender decodes as zero, and every
/// counter that the encoder writes is read back.
final class SACountersCodingTests: XCTestCase {
    func testMissingCounterIsZero() throws {
        let older = #"{"encaps": 5, "replayFailed": 2}"#
        let counters = try JSONDecoder().decode(SACounters.self, from: Data(older.utf8))
        XCTAssertEqual(counters.encaps, 5)
        XCTAssertEqual(counters.replayFailed, 2)
        XCTAssertEqual(counters.esnResynchronizations, 0)
        XCTAssertEqual(counters.bytesIn, 0)
    }

    func testEveryCounterRoundTrips() throws {
        // Each key the encoder writes gets its own value, so a counter the decoder skips
        // comes back as zero and fails the comparison.
        let encoded = try JSONEncoder().encode(SACounters())
        let keys = try XCTUnwrap(
            JSONSerialization.jsonObject(with: encoded) as? [String: Any]
        ).keys.sorted()
        XCTAssertTrue(keys.contains("esnResynchronizations"))
        var input: [String: UInt64] = [:]
        for (offset, key) in keys.enumerated() { input[key] = UInt64(offset + 1) }

        let decoded = try JSONDecoder().decode(
            SACounters.self, from: JSONSerialization.data(withJSONObject: input))
        let output = try XCTUnwrap(
            JSONSerialization.jsonObject(with: JSONEncoder().encode(decoded)) as? [String: Any])
        for key in keys {
            XCTAssertEqual((output[key] as? NSNumber)?.uint64Value, input[key], key)
        }
    }

    func testAddSumsResynchronizations() {
        var total = SACounters()
        total.esnResynchronizations = 3
        var other = SACounters()
        other.esnResynchronizations = 4
        total.add(other)
        XCTAssertEqual(total.esnResynchronizations, 7)
    }
}
