// Vendor ID cases: an unknown Vendor ID beside CISCO-CTS-SGT, and lookalikes
// that must not count as the capability.
//
// The test builds the initiator's IKE_SA_INIT request from gateway A's real
// one, with its Vendor ID payloads replaced, and sends it to gateway B:
//   A->B  IKE_SA_INIT request   SA KE Ni N(NAT_DETECTION_*) V... (as listed per case)
//   B->A  IKE_SA_INIT response  SA KE Nr N(NAT_DETECTION_*) [V(CISCO-CTS-SGT)]

import TaglineCore
import XCTest

@testable import TaglineIKE

final class VendorIDCaseTests: XCTestCase {
    /// Sends A's IKE_SA_INIT request to B with `vendorIDs` in place of A's own
    /// Vendor IDs; returns B's response and B's state for the new SA.
    private func exchangeInit(vendorIDs: [[UInt8]], responderSGT: Bool = true) throws
        -> (response: IKEMessage, state: IKESAState)
    {
        var optionsB = LabConfig.Options()
        optionsB.sgt = responderSGT
        let lab = Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        let original = try XCTUnwrap(lab.a.outbox.first)
        lab.a.outbox.removeAll()

        var request = try ReceivedMessage.decode(original.bytes).clearMessage
        request.payloads.removeAll { if case .vendorID = $0 { return true } else { return false } }
        request.payloads += vendorIDs.map { .vendorID(VendorIDPayload(data: $0)) }
        lab.b.engine.receive(
            IKEDatagram(
                local: original.remote, remote: original.local, bytes: request.encodeClear()))

        let reply = try XCTUnwrap(lab.b.outbox.first)
        let response = try ReceivedMessage.decode(reply.bytes).clearMessage
        XCTAssertNil(response.errorNotify)
        let state = try XCTUnwrap(lab.b.engine.exportStates().first)
        return (response, state)
    }

    func testUnknownVendorIDBeforeSGTIsIgnored() throws {
        // K1: 28 unknown binary bytes, then the 13 bytes of CISCO-CTS-SGT.
        let unknown: [UInt8] = [
            0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45,  // opaque vendor bytes
            0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
            0x00, 0xff, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef,
            0x01, 0x02, 0x03, 0x04,
        ]
        XCTAssertEqual(unknown.count, 28)
        let (response, state) = try exchangeInit(vendorIDs: [unknown, Array("CISCO-CTS-SGT".utf8)])
        XCTAssertTrue(state.taggingNegotiated)
        XCTAssertEqual(response.vendorIDs, [.ciscoCTSSGT])
    }

    func testUnknownVendorIDWithoutResponderCommand() throws {
        let (response, state) = try exchangeInit(
            vendorIDs: [[UInt8](repeating: 0xAB, count: 28), Array("CISCO-CTS-SGT".utf8)],
            responderSGT: false)
        XCTAssertFalse(state.taggingNegotiated)
        XCTAssertTrue(response.vendorIDs.isEmpty)
    }

    func testTrailingNULIsNotTheCapability() throws {
        // K2: CISCO-CTS-SGT followed by one NUL byte.
        let (response, state) = try exchangeInit(vendorIDs: [Array("CISCO-CTS-SGT".utf8) + [0]])
        XCTAssertFalse(state.taggingNegotiated)
        XCTAssertTrue(response.vendorIDs.isEmpty)
    }

    func testLongerNameIsNotTheCapability() throws {
        // K2: CISCO-CTS-SGTX, and a prefix of the name.
        let (response, state) = try exchangeInit(
            vendorIDs: [Array("CISCO-CTS-SGTX".utf8), Array("CISCO-CTS-SG".utf8)])
        XCTAssertFalse(state.taggingNegotiated)
        XCTAssertTrue(response.vendorIDs.isEmpty)
    }

    func testInitiatorIgnoresLookalikeInResponse() throws {
        // B's response carries CISCO-CTS-SGT<NUL>, which A must not count as the capability.
        let lab = Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        lab.network = { datagram in
            guard let header = try? IKEHeader.decode(datagram.bytes),
                header.exchangeType == .ikeSAInit, header.isResponse,
                var message = try? ReceivedMessage.decode(datagram.bytes).clearMessage
            else { return datagram }
            message.payloads = message.payloads.map {
                if case .vendorID = $0 {
                    return .vendorID(VendorIDPayload(data: Array("CISCO-CTS-SGT".utf8) + [0]))
                }
                return $0
            }
            var changed = datagram
            changed.bytes = message.encodeClear()
            return changed
        }
        lab.a.engine.start()
        lab.run()
        // AUTH fails because B signs the response it sent, not the rewritten one.
        // The tagging decision was taken at IKE_SA_INIT and shows in the debug lines.
        XCTAssertFalse(lab.a.debugLines.contains { $0.contains("Received custom vendor id") })
        XCTAssertTrue(
            lab.a.debugLines.contains("IKEv2:(1): Ignoring unknown vendor id of 14 bytes"))
    }
}
