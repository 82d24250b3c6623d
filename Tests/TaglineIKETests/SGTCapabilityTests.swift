// The four rows of the SGT capability table: tagging is negotiated only
// when both gateways have `crypto ikev2 cts sgt`.
//
// Each exchange below runs:
//   A->B  IKE_SA_INIT request   SA KE Ni N(NAT_DETECTION_*) [V(CISCO-CTS-SGT)]
//   B->A  IKE_SA_INIT response  SA KE Nr N(NAT_DETECTION_*) [V(CISCO-CTS-SGT)]
//   A->B  IKE_AUTH request      SK{IDi AUTH SA TSi TSr}
//   B->A  IKE_AUTH response     SK{IDr AUTH SA TSi TSr}

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class SGTCapabilityTests: XCTestCase {
    private func establish(initiatorSGT: Bool, responderSGT: Bool) -> Lab {
        var optionsA = LabConfig.Options()
        optionsA.sgt = initiatorSGT
        var optionsB = LabConfig.Options()
        optionsB.sgt = responderSGT
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA),
            configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(
            lab.transcript,
            [
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
                "A IKE_AUTH request 1", "B IKE_AUTH response 1",
            ])
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        return lab
    }

    func testBothEnabledTagsBothChildSAs() throws {
        let lab = establish(initiatorSGT: true, responderSGT: true)
        XCTAssertTrue(lab.a.installed[0].taggingNegotiated)
        XCTAssertTrue(lab.b.installed[0].taggingNegotiated)
        XCTAssertTrue(try XCTUnwrap(lab.a.ready.first).sgtEnabled)
        XCTAssertTrue(try XCTUnwrap(lab.b.ready.first).sgtEnabled)

        // The IOS debug lines, with the tunnel id of the IKE SA.
        XCTAssertTrue(
            lab.a.debugLines.contains("IKEv2:(1): Sending custom vendor id : CISCO-CTS-SGT"))
        XCTAssertTrue(
            lab.a.debugLines.contains("IKEv2:Construct Vendor Specific Payload: (CUSTOM)"))
        XCTAssertTrue(
            lab.a.debugLines.contains("IKEv2:(1): Received custom vendor id : CISCO-CTS-SGT"))
        XCTAssertTrue(
            lab.b.debugLines.contains("IKEv2:(1): Received custom vendor id : CISCO-CTS-SGT"))
        XCTAssertTrue(
            lab.b.debugLines.contains("IKEv2:(1): Sending custom vendor id : CISCO-CTS-SGT"))
    }

    func testInitiatorOnlyDoesNotTag() {
        let lab = establish(initiatorSGT: true, responderSGT: false)
        XCTAssertFalse(lab.a.installed[0].taggingNegotiated)
        XCTAssertFalse(lab.b.installed[0].taggingNegotiated)
        // The responder saw the Vendor ID but, without the command, did not send it back.
        XCTAssertTrue(
            lab.b.debugLines.contains("IKEv2:(1): Received custom vendor id : CISCO-CTS-SGT"))
        XCTAssertFalse(lab.b.debugLines.contains { $0.contains("Sending custom vendor id") })
        XCTAssertFalse(lab.a.debugLines.contains { $0.contains("Received custom vendor id") })
    }

    func testResponderOnlyDoesNotTag() {
        let lab = establish(initiatorSGT: false, responderSGT: true)
        XCTAssertFalse(lab.a.installed[0].taggingNegotiated)
        XCTAssertFalse(lab.b.installed[0].taggingNegotiated)
        XCTAssertFalse(lab.a.debugLines.contains { $0.contains("custom vendor id") })
        XCTAssertFalse(lab.b.debugLines.contains { $0.contains("custom vendor id") })
    }

    func testNeitherDoesNotTag() {
        let lab = establish(initiatorSGT: false, responderSGT: false)
        XCTAssertFalse(lab.a.installed[0].taggingNegotiated)
        XCTAssertFalse(lab.b.installed[0].taggingNegotiated)
        XCTAssertFalse(lab.a.ready.first?.sgtEnabled ?? true)
    }

    func testChildSAKeysAndSPIsMatchAcrossPeers() throws {
        let lab = establish(initiatorSGT: true, responderSGT: true)
        let childA = lab.a.installed[0]
        let childB = lab.b.installed[0]
        XCTAssertEqual(childA.outboundSPI, childB.inboundSPI)
        XCTAssertEqual(childB.outboundSPI, childA.inboundSPI)
        XCTAssertEqual(childA.outboundKeys, childB.inboundKeys)
        XCTAssertEqual(childB.outboundKeys, childA.inboundKeys)
        XCTAssertNotEqual(childA.outboundKeys, childA.inboundKeys)
        XCTAssertEqual(childA.encryption, .aesGCM128)
        XCTAssertEqual(childA.inboundKeys.encryptionKey.bytes.count, 20)
        XCTAssertEqual(childA.localSelectors, [TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!)])
        XCTAssertEqual(
            childA.remoteSelectors, [TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!)])
        XCTAssertEqual(childB.localSelectors, childA.remoteSelectors)
        XCTAssertEqual(childA.cryptoMapName, "cmap")
        XCTAssertEqual(childA.interfaceName, "out0")
        XCTAssertNil(childA.udpEncapsulation)
        XCTAssertEqual(childA.ikeSAName, childB.ikeSAName)
        XCTAssertTrue(lab.a.problems.isEmpty, "\(lab.a.problems)")
        XCTAssertTrue(lab.b.problems.isEmpty, "\(lab.b.problems)")
    }

    func testConfigChangeKeepsDecisionOfExistingSA() throws {
        let lab = establish(initiatorSGT: true, responderSGT: true)
        var options = LabConfig.Options()
        options.sgt = false
        lab.a.engine.updateConfig(
            ConfigLoaderHelper.config(LabConfig.text(gateway: "A", options)))
        XCTAssertTrue(try XCTUnwrap(lab.a.ready.first).sgtEnabled)

        // A new IKE SA, after clearing the old one, no longer sends the Vendor ID.
        lab.a.debugLines.removeAll()
        lab.a.engine.clear(tunnelID: nil)
        lab.run()
        lab.advance(2)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertFalse(try XCTUnwrap(lab.a.ready.first).sgtEnabled)
        XCTAssertFalse(lab.a.debugLines.contains { $0.contains("Sending custom vendor id") })
        XCTAssertFalse(try XCTUnwrap(lab.a.installed.last).taggingNegotiated)
    }
}

enum ConfigLoaderHelper {
    static func config(_ text: String) -> GatewayConfig {
        ConfigLoader.parse(text: text).config
    }
}
