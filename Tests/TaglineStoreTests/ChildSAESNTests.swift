// The ESN flag of a Child SA: stored and reloaded, and absent from SAs stored
// before the field existed.

import Foundation
import TaglineCore
import TaglineStore
import XCTest

final class ChildSAESNTests: XCTestCase {
    var directory = ""

    override func setUp() { directory = makeTemporaryDirectory() }
    override func tearDown() { removeDirectory(directory) }

    func testESNFlagSurvivesReopen() throws {
        let path = directory + "/sad.db"
        var extended = makeChildSA(inboundSPI: 4096)
        extended.extendedSequenceNumbers = true
        let plain = makeChildSA(inboundSPI: 300)
        let store = try ChildSAStore(path: path)
        try store.save(extended, at: 1)
        try store.save(plain, at: 1)

        let reopened = try ChildSAStore(path: path)
        let loadedExtended = try XCTUnwrap(try reopened.childSA(inboundSPI: 4096))
        let loadedPlain = try XCTUnwrap(try reopened.childSA(inboundSPI: 300))
        XCTAssertEqual(loadedExtended.extendedSequenceNumbers, true)
        XCTAssertTrue(loadedExtended.usesExtendedSequenceNumbers)
        XCTAssertNil(loadedPlain.extendedSequenceNumbers)
        XCTAssertFalse(loadedPlain.usesExtendedSequenceNumbers)
    }

    func testJSONWithoutFieldDecodes() throws {
        var childSA = makeChildSA(inboundSPI: 4096)
        childSA.extendedSequenceNumbers = true
        let encoded = try JSONEncoder().encode(childSA)
        var object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        XCTAssertNotNil(object["extendedSequenceNumbers"])
        object["extendedSequenceNumbers"] = nil
        let older = try JSONSerialization.data(withJSONObject: object)

        let decoded = try JSONDecoder().decode(ChildSA.self, from: older)
        XCTAssertNil(decoded.extendedSequenceNumbers)
        XCTAssertFalse(decoded.usesExtendedSequenceNumbers)
        XCTAssertEqual(decoded.inboundSPI, 4096)
    }
}
