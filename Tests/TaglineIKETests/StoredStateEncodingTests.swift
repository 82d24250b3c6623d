// The negotiator stores established IKE SAs as JSON. Rows written by
// Foundation's JSONEncoder (keys in declaration order, slashes escaped) must
// load as before, next to rows written by SortedJSONEncoder.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineIKE

final class StoredStateEncodingTests: XCTestCase {
    func testOldAndNewRowsDecodeAlike() throws {
        let lab = Lab.established()
        let states = lab.a.establishedStates + lab.b.establishedStates
        XCTAssertEqual(states.count, 2)
        for state in states {
            let old = try JSONEncoder().encode(state)
            let new = try SortedJSONEncoder().encode(state)
            let fromOld = try JSONDecoder().decode(IKESAState.self, from: old)
            let fromNew = try JSONDecoder().decode(IKESAState.self, from: Data(new))
            XCTAssertEqual(try SortedJSONEncoder().encode(fromOld), new)
            XCTAssertEqual(try SortedJSONEncoder().encode(fromNew), new)
            XCTAssertEqual(fromNew.childSAs, state.childSAs)
        }
    }

    func testMatchesFoundationSortedBytes() throws {
        let lab = Lab.established()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for state in lab.a.establishedStates + lab.b.establishedStates {
            XCTAssertEqual(try SortedJSONEncoder().encode(state), Array(try encoder.encode(state)))
        }
    }
}
