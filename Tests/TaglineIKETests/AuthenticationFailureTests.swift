// Case K3: the two gateways hold different pre-shared keys.
//
//   A->B  IKE_SA_INIT request   SA KE Ni N(NAT_DETECTION_*) V
//   B->A  IKE_SA_INIT response  SA KE Nr N(NAT_DETECTION_*) V
//   A->B  IKE_AUTH request      SK{IDi AUTH SA TSi TSr}   (AUTH made with A's key)
//   B->A  IKE_AUTH response     SK{N(AUTHENTICATION_FAILED)}

import TaglineCore
import XCTest

@testable import TaglineIKE

final class AuthenticationFailureTests: XCTestCase {
    private func mismatchedLab() -> Lab {
        var optionsB = LabConfig.Options()
        optionsB.psk = "other-secret"
        return Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B", optionsB))
    }

    func testWrongPSKSendsAuthenticationFailed() throws {
        let lab = mismatchedLab()
        var responses: [IKEMessage] = []
        lab.network = { datagram in
            if let received = try? ReceivedMessage.decode(datagram.bytes),
                received.header.exchangeType == .ikeAuth, received.header.isResponse,
                let sa = lab.a.engine.ikeSAs.values.first, let keys = sa.receiveKeys,
                let message = try? received.decrypt(with: keys)
            {
                responses.append(message)
            }
            return datagram
        }
        lab.a.engine.start()
        lab.run()

        XCTAssertEqual(lab.transcript.last, "B IKE_AUTH response 1")
        let response = try XCTUnwrap(responses.first)
        XCTAssertEqual(response.errorNotify?.type, .authenticationFailed)
        XCTAssertNil(response.responderID)
        XCTAssertTrue(lab.a.installed.isEmpty)
        XCTAssertTrue(lab.b.installed.isEmpty)
        XCTAssertTrue(lab.a.engine.ikeSAStatuses().isEmpty)
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
    }

    func testWrongPSKLogsOneLineNamingPeer() {
        let lab = mismatchedLab()
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.b.problems.count, 1, "\(lab.b.problems)")
        XCTAssertEqual(lab.a.problems.count, 1, "\(lab.a.problems)")
        XCTAssertTrue(lab.b.problems.first?.hasPrefix("198.51.100.1:") ?? false)
        XCTAssertTrue(lab.b.problems.first?.contains("pre-shared key mismatch") ?? false)
        XCTAssertTrue(lab.a.problems.first?.hasPrefix("198.51.100.2:") ?? false)
        XCTAssertTrue(lab.a.problems.first?.contains("AUTHENTICATION_FAILED") ?? false)
    }

    func testWrongPSKRetryIsBackedOff() {
        let lab = mismatchedLab()
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.transcript.count, 4)

        // Nothing is sent again before the first back-off of 10 s has passed.
        for _ in 0..<9 { lab.advance(1) }
        XCTAssertEqual(lab.transcript.count, 4)
        lab.advance(1)
        XCTAssertEqual(lab.transcript.count, 8)
        XCTAssertEqual(lab.transcript[4], "A IKE_SA_INIT request 0")

        // The second retry waits twice as long.
        lab.advance(19)
        XCTAssertEqual(lab.transcript.count, 8)
        lab.advance(1)
        XCTAssertEqual(lab.transcript.count, 12)
        XCTAssertTrue(lab.a.installed.isEmpty)
        XCTAssertTrue(lab.b.installed.isEmpty)
        XCTAssertEqual(lab.b.problems.count, 3)
    }

    func testMissingKeyringPeerFailsWithoutTraffic() {
        var optionsA = LabConfig.Options()
        optionsA.keyringAddress = "192.0.2.99 255.255.255.255"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA), configB: LabConfig.text(gateway: "B"))
        lab.a.engine.start()
        lab.run()
        XCTAssertTrue(lab.transcript.isEmpty)
        XCTAssertEqual(lab.a.problems.count, 1)
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), lab.now + 10)
    }
}
