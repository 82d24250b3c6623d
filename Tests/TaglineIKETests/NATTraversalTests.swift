// NAT traversal (RFC 7296 §2.23, RFC 3948): gateway A sits behind a NAT
// that maps 198.51.100.1 to 203.0.113.50 with new source ports.
//
//   A->B  IKE_SA_INIT request   (500 -> 500, seen by B from 203.0.113.50:40500)
//   B->A  IKE_SA_INIT response  NAT_DETECTION hashes no longer match
//   A->B  IKE_AUTH request      (4500 -> 4500, seen by B from 203.0.113.50:44500)
//   B->A  IKE_AUTH response

import TaglineCore
import XCTest

@testable import TaglineIKE

final class NATTraversalTests: XCTestCase {
    private let inside = IPAddress("198.51.100.1")!
    private let outside = IPAddress("203.0.113.50")!

    private func natLab() -> Lab {
        var optionsB = LabConfig.Options()
        optionsB.keyringAddress = "0.0.0.0 0.0.0.0"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B", optionsB))
        let inside = self.inside
        let outside = self.outside
        lab.network = { datagram in
            var moved = datagram
            if datagram.local.address == inside {
                // Outbound through the NAT: source rewritten.
                moved.local = IKEEndpoint(address: outside, port: 40000 + datagram.local.port)
            } else if datagram.remote.address == outside {
                // Inbound: destination mapped back.
                moved.remote = IKEEndpoint(address: inside, port: datagram.remote.port - 40000)
            }
            return moved
        }
        lab.route = { datagram in
            datagram.remote.address == inside ? lab.a : lab.b
        }
        return lab
    }

    func testNATDetectedFloatsToPort4500() throws {
        let lab = natLab()
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.transcript.count, 4)
        let statusA = try XCTUnwrap(lab.a.ready.first)
        let statusB = try XCTUnwrap(lab.b.ready.first)
        XCTAssertTrue(statusA.natDetected)
        XCTAssertTrue(statusB.natDetected)
        XCTAssertEqual(statusA.localPort, 4500)
        XCTAssertEqual(statusA.remotePort, 4500)
        XCTAssertEqual(statusB.localPort, 4500)
        XCTAssertEqual(statusB.remoteAddress, outside)
        XCTAssertEqual(statusB.remotePort, 44500)
        XCTAssertTrue(lab.a.debugLines.contains("IKEv2:(1): NAT detected, floating to port 4500"))
    }

    func testChildSAsUseUDPEncapsulation() throws {
        let lab = natLab()
        lab.a.engine.start()
        lab.run()
        let childA = try XCTUnwrap(lab.a.installed.first)
        let childB = try XCTUnwrap(lab.b.installed.first)
        XCTAssertEqual(childA.udpEncapsulation, UDPEncapsulation(localPort: 4500, remotePort: 4500))
        XCTAssertEqual(
            childB.udpEncapsulation, UDPEncapsulation(localPort: 4500, remotePort: 44500))
        XCTAssertEqual(childB.remoteAddress, outside)
        XCTAssertEqual(childA.outboundKeys, childB.inboundKeys)
    }

    func testNoNATKeepsPort500() throws {
        let lab = Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        lab.a.engine.start()
        lab.run()
        let status = try XCTUnwrap(lab.a.ready.first)
        XCTAssertFalse(status.natDetected)
        XCTAssertEqual(status.localPort, 500)
        XCTAssertNil(lab.a.installed.first?.udpEncapsulation)
    }

    func testHashMatchesRFCInputLayout() {
        // SHA-1 over SPIi | SPIr | 198.51.100.1 | 500, computed with Python's hashlib.
        let hash = NATDetection.hash(
            initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0,
            address: IPAddress("198.51.100.1")!, port: 500)
        XCTAssertEqual(Hex.encode(hash), "3a02de24d181fd88168057d5ab63bd418473444a")
    }
}
