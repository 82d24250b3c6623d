import TaglineCore
import XCTest

@testable import TaglineDataplane

final class CMDHeaderTests: XCTestCase {
    private func parse(_ bytes: [UInt8]) -> Result<CMDHeader, CMDError> {
        bytes.withUnsafeBytes { buffer in
            do throws(CMDError) {
                return .success(try CMDHeader.parse(buffer))
            } catch {
                return .failure(error)
            }
        }
    }

    func testParsesSGT400() throws {
        let bytes: [UInt8] = [
            0x01,  // version 1
            0x01,  // length: 1 unit of 8 bytes
            0x00, 0x01,  // option length 0, option type 1 (SGT)
            0x01, 0x90,  // SGT 400
            0x08, 0x00,  // inner EtherType IPv4
        ]
        let header = try parse(bytes).get()
        XCTAssertEqual(header.sgt, SGT(400))
        XCTAssertEqual(header.innerEtherType, 0x0800)
        XCTAssertEqual(header.headerLength, 8)
    }

    func testWritesEightBytes() {
        let header = CMDHeader(sgt: SGT(333)!, innerEtherType: 0x86DD)
        // version 1, length 1, option SGT, SGT 333 (0x014d), EtherType IPv6
        XCTAssertEqual(header.bytes, [0x01, 0x01, 0x00, 0x01, 0x01, 0x4D, 0x86, 0xDD])
    }

    func testRoundTrip() throws {
        let header = CMDHeader(sgt: SGT(0xFFFE)!, innerEtherType: 0x0800)
        XCTAssertEqual(try parse(header.bytes).get(), header)
    }

    func testRejectsVersion2() {
        // version 2, length 1, SGT option, SGT 400, IPv4
        let bytes: [UInt8] = [0x02, 0x01, 0x00, 0x01, 0x01, 0x90, 0x08, 0x00]
        XCTAssertEqual(parse(bytes), .failure(.invalidVersion(2)))
        XCTAssertEqual(CMDError.invalidVersion(2).dropReason, .cmdInvalidVersion)
    }

    func testRejectsReservedSGT() {
        // version 1, length 1, SGT option, SGT 0xFFFF, IPv4
        let bytes: [UInt8] = [0x01, 0x01, 0x00, 0x01, 0xFF, 0xFF, 0x08, 0x00]
        XCTAssertEqual(parse(bytes), .failure(.reservedSGT))
    }

    func testRejectsOptionLengthPastHeader() {
        // version 1, length 1, option length 1 (0x20 = 001 in the top 3 bits) + type 1,
        // SGT 400, IPv4: the option needs 2 units but the header has 1.
        let bytes: [UInt8] = [0x01, 0x01, 0x20, 0x01, 0x01, 0x90, 0x08, 0x00]
        XCTAssertEqual(parse(bytes), .failure(.invalidOptionLength(units: 1, headerUnits: 1)))
        XCTAssertEqual(
            CMDError.invalidOptionLength(units: 1, headerUnits: 1).dropReason,
            .cmdInvalidOption)
    }

    func testHonoursOptionLengthInsideHeader() throws {
        // version 1, length 2 (16 bytes), option length 1 + type 1, SGT 400, IPv4,
        // then 8 bytes of option data that the parser skips.
        let bytes: [UInt8] =
            [0x01, 0x02, 0x20, 0x01, 0x01, 0x90, 0x08, 0x00]
            + [UInt8](repeating: 0xAB, count: 8)
        let header = try parse(bytes).get()
        XCTAssertEqual(header.sgt, SGT(400))
        XCTAssertEqual(header.headerLength, 16)
    }

    func testRejectsUnknownOptionType() {
        // version 1, length 1, option type 2, SGT 400, IPv4
        let bytes: [UInt8] = [0x01, 0x01, 0x00, 0x02, 0x01, 0x90, 0x08, 0x00]
        XCTAssertEqual(parse(bytes), .failure(.unknownOptionType(2)))
    }

    func testRejectsTruncatedHeader() {
        // version 1, length 1, SGT option, then the payload ends
        XCTAssertEqual(
            parse([0x01, 0x01, 0x00, 0x01]),
            .failure(.truncated(needed: 8, available: 4)))
        XCTAssertEqual(parse([]), .failure(.truncated(needed: 8, available: 0)))
    }

    func testRejectsLengthPastPayload() {
        // version 1, length 0xFF (top bit set: 2040 bytes), SGT option, SGT 400, IPv4
        let bytes: [UInt8] = [0x01, 0xFF, 0x00, 0x01, 0x01, 0x90, 0x08, 0x00]
        XCTAssertEqual(parse(bytes), .failure(.truncated(needed: 2040, available: 8)))
    }

    func testRejectsZeroLength() {
        // version 1, length 0, SGT option, SGT 400, IPv4
        let bytes: [UInt8] = [0x01, 0x00, 0x00, 0x01, 0x01, 0x90, 0x08, 0x00]
        XCTAssertEqual(parse(bytes), .failure(.invalidLength(0)))
    }

    func testRejectsUnknownEtherType() {
        // version 1, length 1, SGT option, SGT 400, EtherType ARP
        let bytes: [UInt8] = [0x01, 0x01, 0x00, 0x01, 0x01, 0x90, 0x08, 0x06]
        XCTAssertEqual(parse(bytes), .failure(.unknownInnerEtherType(0x0806)))
    }

    func testSGTZeroParsesAsUnknown() throws {
        // version 1, length 1, SGT option, SGT 0 (unknown), IPv4
        let header = try parse([0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0x08, 0x00]).get()
        XCTAssertNil(header.sgt)
    }

    func testErrorMessagesNameOffsets() {
        XCTAssertTrue(CMDError.reservedSGT.description.contains("offset 4"))
        XCTAssertTrue(CMDError.invalidVersion(2).description.contains("offset 0"))
    }
}
