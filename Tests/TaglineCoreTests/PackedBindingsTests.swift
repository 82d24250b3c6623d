import Foundation
import TaglineCore
import XCTest

final class PackedBindingsTests: XCTestCase {
    private let bindings = [
        SGTBinding(prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(10)!, source: .config),
        SGTBinding(prefix: IPPrefix("198.51.100.7/32")!, sgt: SGT(65534)!, source: .api),
        SGTBinding(prefix: IPPrefix("0.0.0.0/0")!, sgt: SGT(1)!, source: .internal),
        SGTBinding(prefix: IPPrefix("2001:db8:a::/48")!, sgt: SGT(300)!, source: .sxp),
        SGTBinding(prefix: IPPrefix("2001:db8::1/128")!, sgt: SGT(301)!, source: .api),
    ]

    func testRoundTrip() throws {
        let data = PackedBindings.pack(bindings)
        XCTAssertEqual(data.count, 3 * 9 + 2 * 21)
        XCTAssertEqual(try PackedBindings.unpack(data, count: bindings.count), bindings)
    }

    func testSnapshotThroughJSON() throws {
        let snapshot = PackedBindingSnapshot(epoch: 7, sequence: 42, bindings: bindings)
        let decoded = try JSONDecoder().decode(
            PackedBindingSnapshot.self, from: Data(SortedJSONEncoder().encode(snapshot)))
        XCTAssertEqual(decoded.epoch, 7)
        XCTAssertEqual(decoded.sequence, 42)
        XCTAssertEqual(try PackedBindings.unpack(decoded.records, count: decoded.count), bindings)
    }

    /// Each damaged record is rejected with the field's offset.
    func testInvalidRecords() {
        let good = PackedBindings.pack(Array(bindings.prefix(1)))  // 4, 24, c0 00 02 00, 00 0a, 1
        let cases: [(String, [UInt8], Int, PackedBindingError)] = [
            ("truncated address", Array(good.prefix(5)), 1, .truncated(offset: 0)),
            ("family 5", [5] + Array(good.dropFirst()), 1, .invalidFamily(5, offset: 0)),
            (
                "length 33", [4, 33] + Array(good.dropFirst(2)), 1,
                .invalidPrefix(length: 33, offset: 1)
            ),
            (
                "host bits", [4, 8] + Array(good.dropFirst(2)), 1,
                .invalidPrefix(length: 8, offset: 1)
            ),
            ("SGT 0", Array(good.prefix(6)) + [0, 0, 1], 1, .invalidSGT(0, offset: 6)),
            ("source 9", Array(good.prefix(8)) + [9], 1, .invalidSource(9, offset: 8)),
            ("count", Array(good), 2, .countMismatch(expected: 2, found: 1)),
        ]
        for (name, bytes, count, expected) in cases {
            XCTAssertThrowsError(try PackedBindings.unpack(Data(bytes), count: count), name) {
                XCTAssertEqual($0 as? PackedBindingError, expected, name)
            }
        }
    }
}
