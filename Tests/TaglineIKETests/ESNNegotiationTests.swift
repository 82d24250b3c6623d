// Extended sequence numbers in the ESP proposals (ESN transform type 5,
// RFC 7296 §3.3.2). With `crypto ipsec esn` a gateway offers "ESN" before
// "no ESN" and prefers ESN as responder. Without it a gateway offers only
// "no ESN" and takes ESN only from an initiator that offers nothing else.
//
//   A->B IKE_AUTH request:  SK{IDi AUTH SA(ESN 1, 0 or 0) TSi TSr}
//   B->A IKE_AUTH response: SK{IDr AUTH SA(ESN 1 or 0) TSi TSr}

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class ESNNegotiationTests: XCTestCase {
    private func lab(esnA: Bool, esnB: Bool, protected: [String]? = nil) -> Lab {
        var options = LabConfig.Options()
        if let protected { options.protected = protected }
        let esnLine = "\ncrypto ipsec esn"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", options) + (esnA ? esnLine : ""),
            configB: LabConfig.text(gateway: "B", options) + (esnB ? esnLine : ""))
        XCTAssertEqual(lab.a.engine.config.extendedSequenceNumbers, esnA)
        XCTAssertEqual(lab.b.engine.config.extendedSequenceNumbers, esnB)
        lab.capture()
        lab.a.engine.start()
        lab.run()
        return lab
    }

    /// Returns the ESN transform IDs of each ESP proposal in a message's SA payload.
    private func esnIDs(_ message: IKEMessage) -> [[UInt16]] {
        (message.securityAssociation?.proposals ?? []).map {
            $0.transforms(of: .extendedSequenceNumbers).map(\.id)
        }
    }

    /// Opens the IKE_AUTH request and response that A's first IKE SA carried.
    private func authExchange(_ lab: Lab) throws -> (request: IKEMessage, response: IKEMessage) {
        let state = try XCTUnwrap(lab.a.establishedStates.first)
        let request = try openMessage(
            try XCTUnwrap(datagrams(lab.captured, "IKE_AUTH request 1").first).bytes, on: state)
        let response = try openMessage(
            try XCTUnwrap(datagrams(lab.captured, "IKE_AUTH response 1").first).bytes, on: state)
        return (request, response)
    }

    func testBothSidesChooseESN() throws {
        let lab = lab(esnA: true, esnB: true)
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        let exchange = try authExchange(lab)
        XCTAssertEqual(esnIDs(exchange.request), [[1, 0]])
        XCTAssertEqual(esnIDs(exchange.response), [[1]])
        XCTAssertEqual(lab.a.installed.first?.extendedSequenceNumbers, true)
        XCTAssertEqual(lab.b.installed.first?.extendedSequenceNumbers, true)
        XCTAssertTrue(
            lab.a.logLines.contains {
                $0.message.contains("Child SA up") && $0.message.contains(", ESN")
            },
            "A's notice names ESN")
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testResponderWithoutLinePicksNoESN() throws {
        let lab = lab(esnA: true, esnB: false)
        let exchange = try authExchange(lab)
        XCTAssertEqual(esnIDs(exchange.request), [[1, 0]])
        XCTAssertEqual(esnIDs(exchange.response), [[0]])
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertNil(lab.a.installed.first?.extendedSequenceNumbers)
        XCTAssertNil(lab.b.installed.first?.extendedSequenceNumbers)
        XCTAssertEqual(lab.a.problems, [])
    }

    func testInitiatorWithoutLineOffersNoESN() throws {
        for esnB in [false, true] {
            let lab = lab(esnA: false, esnB: esnB)
            let exchange = try authExchange(lab)
            XCTAssertEqual(esnIDs(exchange.request), [[0]], "B esn \(esnB)")
            XCTAssertEqual(esnIDs(exchange.response), [[0]], "B esn \(esnB)")
            XCTAssertEqual(lab.a.installed.count, 1, "B esn \(esnB)")
            XCTAssertNil(lab.a.installed.first?.extendedSequenceNumbers, "B esn \(esnB)")
            XCTAssertNil(lab.b.installed.first?.extendedSequenceNumbers, "B esn \(esnB)")
        }
    }

    func testCreateChildAndRekeyKeepESN() throws {
        let lab = lab(
            esnA: true, esnB: true,
            protected: [
                "192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255",
                "192.0.2.128 0.0.0.127 203.0.113.0 0.0.0.255",
            ])
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        XCTAssertEqual(lab.a.installed.map(\.extendedSequenceNumbers), [true, true])
        XCTAssertEqual(lab.b.installed.map(\.extendedSequenceNumbers), [true, true])

        // B rekeys the first pair: B is now the initiator of CREATE_CHILD_SA.
        lab.now += 3200
        lab.b.engine.childSAExpiring(inboundSPI: lab.b.installed[0].inboundSPI, hard: false)
        lab.run()
        XCTAssertEqual(lab.a.installed.count, 3)
        XCTAssertEqual(lab.b.installed.count, 3)
        XCTAssertEqual(lab.a.installed.last?.extendedSequenceNumbers, true)
        XCTAssertEqual(lab.b.installed.last?.extendedSequenceNumbers, true)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    // MARK: Proposal selection

    private static let set = ESPTransform(
        TransformSet(
            name: "ts", encryption: .aesGCM128, integrity: nil, description: "esp-gcm",
            line: 1))

    private func offer(esnIDs: [UInt16]) -> Proposal {
        Proposal(
            number: 1, protocol: .esp, spi: [0xC0, 0, 0, 1],
            transforms: ProposalSelection.espTransforms(ESNNegotiationTests.set, esnIDs: esnIDs))
    }

    func testResponderChoiceTable() {
        let rows: [(offered: [UInt16], prefers: Bool, expected: Bool?, note: String)] = [
            ([0], false, false, "no ESN only"),
            ([0], true, false, "no ESN only, ESN preferred"),
            ([1], false, true, "ESN only is taken without the line"),
            ([1], true, true, "ESN only"),
            ([1, 0], false, false, "both, no preference"),
            ([0, 1], true, true, "both, ESN preferred"),
            ([], false, false, "no ESN transform reads as no ESN"),
            ([7], true, nil, "unknown ESN value only"),
        ]
        for row in rows {
            let chosen = ProposalSelection.chooseESP(
                offered: [offer(esnIDs: row.offered)], transforms: [ESNNegotiationTests.set],
                ourSPI: 0xD000_0001, prefersExtendedSequenceNumbers: row.prefers)
            XCTAssertEqual(chosen?.extendedSequenceNumbers, row.expected, row.note)
            if let chosen, let expected = row.expected {
                XCTAssertEqual(
                    chosen.2.transforms(of: .extendedSequenceNumbers).map(\.id),
                    [expected ? 1 : 0], row.note)
            }
        }
    }

    func testInitiatorRejectsUnofferedESN() {
        var response = offer(esnIDs: [1])
        response.spi = [0xD0, 0, 0, 1]
        XCTAssertThrowsError(
            try ProposalSelection.acceptESP(
                response: SAPayload(proposals: [response]), offered: [ESNNegotiationTests.set]))
        let accepted = try? ProposalSelection.acceptESP(
            response: SAPayload(proposals: [response]), offered: [ESNNegotiationTests.set],
            offeredExtendedSequenceNumbers: true)
        XCTAssertEqual(accepted?.extendedSequenceNumbers, true)
        XCTAssertEqual(accepted?.peerSPI, 0xD000_0001)
    }

    func testInitiatorRejectsTwoESNTransforms() {
        var response = offer(esnIDs: [1, 0])
        response.spi = [0xD0, 0, 0, 1]
        XCTAssertThrowsError(
            try ProposalSelection.acceptESP(
                response: SAPayload(proposals: [response]), offered: [ESNNegotiationTests.set],
                offeredExtendedSequenceNumbers: true))
    }
}
