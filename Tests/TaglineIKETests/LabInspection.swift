// Helpers for exchange tests: set up an established lab, list Child SAs and
// decrypt captured messages with the keys of the SA they were sent on.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

extension Lab {
    /// Returns `count` copies of A's IKE_SA_INIT request, each with its own initiator
    /// SPI (1, 2, ...), as they arrive at B. The request comes from a separate lab.
    static func floodRequests(_ count: Int) throws -> [IKEDatagram] {
        let template = Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        template.a.engine.start()
        let request = try XCTUnwrap(template.a.outbox.first)
        return (1...count).map { index in
            var bytes = request.bytes
            for byte in 0..<8 {
                bytes[byte] = UInt8(truncatingIfNeeded: UInt64(index) >> (56 - 8 * byte))
            }
            return IKEDatagram(local: request.remote, remote: request.local, bytes: bytes)
        }
    }

    /// Builds A and B from `optionsA` and `optionsB`, lets A initiate and runs
    /// the exchanges until both sides are quiet.
    static func established(
        _ optionsA: LabConfig.Options = LabConfig.Options(),
        _ optionsB: LabConfig.Options? = nil
    ) -> Lab {
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA),
            configB: LabConfig.text(gateway: "B", optionsB ?? optionsA))
        lab.a.engine.start()
        lab.run()
        return lab
    }

    /// Records every datagram in flight into `captured` and delivers it unchanged.
    func capture() {
        network = { [unowned self] datagram in
            captured.append(datagram)
            return datagram
        }
    }
}

extension Gateway {
    /// The Child SAs of every IKE SA, as the engine contains them now.
    var children: [ChildSA] { engine.exportStates().flatMap(\.childSAs) }

    /// The established IKE SAs, as the engine contains them now.
    var establishedStates: [IKESAState] {
        engine.exportStates().filter { $0.phase == .established }
    }
}

/// Decrypts a protected message with the keys of `sa`, the IKE SA it was sent on.
func openMessage(_ bytes: [UInt8], on sa: IKESAState) throws -> IKEMessage {
    let received = try ReceivedMessage.decode(bytes)
    guard let keys = sa.keys, let algorithms = sa.algorithms else {
        throw IKEProtocolError.invalidPayload("SA without keys")
    }
    let protection = keys.protection(
        ofInitiator: received.header.isInitiator, encryption: algorithms.encryption,
        integrity: algorithms.integrity)
    return try received.decrypt(with: protection)
}

/// Returns the captured datagrams whose header matches `description`, such as
/// "CREATE_CHILD_SA request 2".
func datagrams(_ captured: [IKEDatagram], _ description: String) -> [IKEDatagram] {
    captured.filter { Lab.describe($0.bytes) == description }
}

/// Checks that each side of `lab` has exactly one Child SA and that each side's
/// inbound SPI is the other's outbound SPI.
func assertOneChildPair(_ lab: Lab, file: StaticString = #filePath, line: UInt = #line) {
    let a = lab.a.children
    let b = lab.b.children
    XCTAssertEqual(a.count, 1, "A's Child SAs", file: file, line: line)
    XCTAssertEqual(b.count, 1, "B's Child SAs", file: file, line: line)
    XCTAssertEqual(a.first?.inboundSPI, b.first?.outboundSPI, file: file, line: line)
    XCTAssertEqual(a.first?.outboundSPI, b.first?.inboundSPI, file: file, line: line)
}
