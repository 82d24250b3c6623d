import Foundation
import TaglineCore
import XCTest

/// Odd shapes: escapes, numbers at their limits, nested and keyed collections.
private struct Sample: Codable, Equatable {
    var text = "a\"b\\c/d\n\t\u{01}é€"
    var empty = ""
    var flag = true
    var whole = 1.0
    var fraction = 0.1
    var small = 1e-7
    var large = 1.5e300
    var negative = Int64.min
    var biggest = UInt64.max
    var zero: UInt8 = 0
    var bytes: [UInt8] = [0, 9, 10, 255]
    var missing: String? = nil
    var present: Int? = -42
    var byName = ["b": 2, "a": 1, "B": 3, "10": 4, "9": 5]
    var bySPI: [UInt32: String] = [256: "x", 4096: "y"]
    var nested: [[Int]] = [[], [1, 2]]
    var data = Data([1, 2, 3, 250])
    var inner = Inner()
}

private struct Inner: Codable, Equatable {
    var zed = 1
    var alpha = [Inner2()]
}

private struct Inner2: Codable, Equatable {
    var keyCase = "x"
    var keycase = "y"
}

final class SortedJSONEncoderTests: XCTestCase {
    private func foundation<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func sorted<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try SortedJSONEncoder().encode(value), as: UTF8.self)
    }

    func testDecodesBackEqual() throws {
        let bytes = try SortedJSONEncoder().encode(Sample())
        XCTAssertEqual(try JSONDecoder().decode(Sample.self, from: Data(bytes)), Sample())
    }

    func testEscapesAndNumbers() throws {
        let text = try sorted(Sample())
        XCTAssertTrue(text.hasPrefix("{\"biggest\":18446744073709551615,\"byName\":{"), text)
        XCTAssertTrue(text.contains("\"text\":\"a\\\"b\\\\c/d\\n\\t\\u0001é€\""), text)
        XCTAssertTrue(text.contains("\"whole\":1,"), text)
        XCTAssertTrue(text.contains("\"negative\":-9223372036854775808,"), text)
        XCTAssertTrue(text.contains("\"data\":\"AQID+g==\""), text)
        XCTAssertFalse(text.contains("missing"), text)
    }

    func testMatchesFoundationBytes() throws {
        XCTAssertEqual(try sorted(Sample()), try foundation(Sample()))
        XCTAssertEqual(try sorted(Inner()), try foundation(Inner()))
        XCTAssertEqual(try sorted([1.25, -0.5, 3]), try foundation([1.25, -0.5, 3]))
        XCTAssertEqual(try sorted("x/y"), try foundation("x/y"))
        let childSA = ChildSA(
            inboundSPI: 4096, outboundSPI: 0xC0FF_EE01,
            ikeSAName: "0102030405060708-1112131415161718",
            localAddress: IPAddress("198.51.100.1")!, remoteAddress: IPAddress("2001:db8::2")!,
            udpEncapsulation: UDPEncapsulation(),
            localSelectors: [TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!)],
            remoteSelectors: [TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!)],
            encryption: .aesCBC128, integrity: .hmacSHA1_96,
            inboundKeys: ChildSAKeys(
                encryptionKey: Array(repeating: 0x11, count: 16),
                integrityKey: Array(repeating: 0x22, count: 20)),
            outboundKeys: ChildSAKeys(
                encryptionKey: Array(repeating: 0x33, count: 16),
                integrityKey: Array(repeating: 0x44, count: 20)),
            taggingNegotiated: true, cryptoMapName: "cmap 10", interfaceName: nil,
            transformDescription: "esp-aes esp-sha-hmac", installedAt: 1_764_876_543.125,
            pfsGroup: .ecp256)
        XCTAssertEqual(try sorted(childSA), try foundation(childSA))
        XCTAssertEqual(try sorted(SACounters()), try foundation(SACounters()))
    }

    func testLargeObjectsSorted() throws {
        var items: [String: Int] = [:]
        for number in 0..<500 { items["k\((number * 7919) % 1000)"] = number }
        XCTAssertEqual(try sorted(items), try foundation(items))
    }

    func testRejectsNonFinite() {
        XCTAssertThrowsError(try SortedJSONEncoder().encode([Double.nan]))
        XCTAssertThrowsError(try SortedJSONEncoder().encode(["x": Double.infinity]))
    }
}
