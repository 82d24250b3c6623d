// `initiateAdditional`: new IKE SAs for a target that already has one, all
// in flight at once, and a responder that keeps every IKE SA of one peer.
// Also the hex form of the persisted datagrams.
//
// Lab: A (198.51.100.1) initiates, B (198.51.100.2) responds.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineIKE

final class AdditionalInitiationTests: XCTestCase {
    private func establishedLab() -> Lab {
        let lab = Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        lab.a.engine.start()
        lab.run()
        return lab
    }

    func testAdditionalSAsComeUpBesideFirst() throws {
        let lab = establishedLab()
        XCTAssertEqual(lab.a.ready.count, 1)
        let first = try XCTUnwrap(lab.a.ready.first)

        let (target, tunnelIDs) = try lab.a.engine.initiateAdditional(targetKey: nil, count: 20)
        XCTAssertEqual(target, "cmap 10")
        XCTAssertEqual(tunnelIDs.count, 20)
        // All 20 IKE_SA_INIT requests leave before any response arrives.
        XCTAssertEqual(lab.a.outbox.count, 20)
        lab.run(maxSteps: 200)

        XCTAssertEqual(lab.a.ready.count, 21)
        XCTAssertEqual(lab.b.ready.count, 21)
        XCTAssertEqual(lab.a.installed.count, 21)
        XCTAssertEqual(lab.b.installed.count, 21)
        XCTAssertTrue(lab.a.deleted.isEmpty)
        XCTAssertTrue(lab.b.deleted.isEmpty)
        XCTAssertTrue(Set(tunnelIDs).isSubset(of: Set(lab.a.ready.map(\.tunnelID))))
        XCTAssertTrue(lab.a.problems.isEmpty, "\(lab.a.problems)")
        XCTAssertTrue(lab.b.problems.isEmpty, "\(lab.b.problems)")

        // The first SA still serves the target: timers start nothing new.
        lab.advance(60)
        XCTAssertEqual(lab.a.ready.count, 21)
        XCTAssertTrue(lab.a.ready.contains { $0.localSPI == first.localSPI })
    }

    func testClearingAdditionalSAKeepsFirst() throws {
        let lab = establishedLab()
        let first = try XCTUnwrap(lab.a.ready.first)
        let (_, tunnelIDs) = try lab.a.engine.initiateAdditional(targetKey: "cmap 10", count: 3)
        lab.run()
        for tunnelID in tunnelIDs {
            XCTAssertEqual(lab.a.engine.clear(tunnelID: tunnelID), 1)
        }
        lab.run()
        lab.advance(60)
        XCTAssertEqual(lab.a.ready.map(\.localSPI), [first.localSPI])
        XCTAssertEqual(lab.b.ready.count, 1)
        // No new IKE_SA_INIT: the target kept its first SA.
        XCTAssertFalse(lab.transcript.dropFirst(4 + 4 * 3).contains { $0.contains("IKE_SA_INIT") })
    }

    func testUnknownTargetIsRejected() {
        let lab = establishedLab()
        XCTAssertThrowsError(try lab.a.engine.initiateAdditional(targetKey: "cmap 20", count: 1)) {
            XCTAssertEqual(
                $0 as? IKEInitiateError, .unknownTarget("cmap 20", known: ["cmap 10"]))
        }
        XCTAssertTrue(lab.a.outbox.isEmpty)
    }

    func testCountOutOfRangeIsRejected() {
        let lab = establishedLab()
        for count in [0, -1, IKEEngine.maximumInitiateCount + 1] {
            XCTAssertThrowsError(try lab.a.engine.initiateAdditional(targetKey: nil, count: count))
            {
                XCTAssertEqual($0 as? IKEInitiateError, .invalidCount(count))
            }
        }
    }

    func testPassiveEngineInitiatesNothing() {
        let lab = establishedLab()
        XCTAssertThrowsError(try lab.b.engine.initiateAdditional(targetKey: nil, count: 1)) {
            XCTAssertEqual($0 as? IKEInitiateError, .passive)
        }
    }

    func testStoredDatagramsRoundTripAsHex() throws {
        let lab = establishedLab()
        let state = try XCTUnwrap(lab.b.engine.exportStates().first)
        let cached = try XCTUnwrap(state.lastResponse)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(state)
        let text = String(decoding: json, as: UTF8.self)
        XCTAssertTrue(text.contains(Hex.encode(cached.bytes)))
        let decoded = try JSONDecoder().decode(IKESAState.self, from: json)
        XCTAssertEqual(decoded.lastResponse, cached)
        XCTAssertEqual(try encoder.encode(decoded), json)
    }

    func testStoredDatagramsDecodeFromNumbers() throws {
        // The form earlier versions wrote: the bytes as an array of numbers.
        let old = Data(#"{"messageID":7,"bytes":[1,2,255]}"#.utf8)
        let cached = try JSONDecoder().decode(CachedResponse.self, from: old)
        XCTAssertEqual(cached.messageID, 7)
        XCTAssertEqual(cached.bytes, [1, 2, 255])
        let hex = Data(
            #"{"messageID":2,"exchange":37,"bytes":"0aff","firstSentAt":1,"transmissions":1,"#
                .appending(#""nextRetransmitAt":2}"#).utf8)
        let request = try JSONDecoder().decode(OutstandingRequest.self, from: hex)
        XCTAssertEqual(request.bytes, [0x0A, 0xFF])
    }

    func testInvalidHexDatagramIsRejected() {
        let bad = Data(#"{"messageID":7,"bytes":"0g"}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(CachedResponse.self, from: bad))
    }
}
