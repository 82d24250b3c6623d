import TaglineCore
import XCTest

@testable import TaglineConfig

final class SXPConfigTests: XCTestCase {
    func testFullConfiguration() {
        let result = ConfigLoader.parse(
            text: """
                cts sxp enable
                cts sxp default password 0 Sxp-Secret
                cts sxp default source-ip 192.0.2.1
                cts sxp node-id 192.0.2.1
                cts sxp connection peer 198.51.100.2 password default mode local speaker hold-time 120
                cts sxp connection peer 203.0.113.2 source 192.0.2.9 password none mode local listener hold-time 60 90
                cts sxp connection peer 2001:db8::2 password OtherKey mode peer speaker
                cts sxp retry period 30
                cts sxp reconciliation period 60
                cts sxp delete-hold-down period 150
                """)
        XCTAssertEqual(result.errors, [])
        let sxp = result.config.sxp
        XCTAssertTrue(sxp.enabled)
        XCTAssertEqual(sxp.defaultPassword, "Sxp-Secret")
        XCTAssertEqual(sxp.defaultSourceIP, IPAddress("192.0.2.1"))
        XCTAssertEqual(sxp.nodeID, IPAddress("192.0.2.1"))
        XCTAssertEqual(sxp.retryPeriod, 30)
        XCTAssertEqual(sxp.reconciliationPeriod, 60)
        XCTAssertEqual(sxp.deleteHoldDownPeriod, 150)
        XCTAssertEqual(
            sxp.connections,
            [
                SXPConnectionConfig(
                    peer: IPAddress("198.51.100.2")!, password: .useDefault,
                    localIsSpeaker: true, holdTimeMinimum: 120),
                SXPConnectionConfig(
                    peer: IPAddress("203.0.113.2")!, source: IPAddress("192.0.2.9"),
                    password: .none, localIsSpeaker: false, holdTimeMinimum: 60,
                    holdTimeMaximum: 90),
                SXPConnectionConfig(
                    peer: IPAddress("2001:db8::2")!, password: .key("OtherKey"),
                    localIsSpeaker: false),
            ])
        XCTAssertEqual(sxp.password(for: sxp.connections[0]), "Sxp-Secret")
        XCTAssertNil(sxp.password(for: sxp.connections[1]))
        XCTAssertEqual(sxp.password(for: sxp.connections[2]), "OtherKey")
    }

    func testInvalidLinesRejected() {
        let lines = [
            "cts sxp default password 7 0822455D0A16",
            "cts sxp connection peer 198.51.100.2 password default mode local talker",
            "cts sxp connection peer 198.51.100.2 mode local speaker",
            "cts sxp connection peer 198.51.100.2 password none mode local listener hold-time 90 60",
            "cts sxp retry period 70000",
            "cts sxp default password " + String(repeating: "k", count: 81),
            "cts sxp bogus",
        ]
        for line in lines {
            let result = ConfigLoader.parse(text: line)
            XCTAssertEqual(result.errors.count, 1, line)
            XCTAssertEqual(result.config.sxp, SXPConfiguration(), line)
        }
    }

    func testLaterPeerLineReplaces() {
        let result = ConfigLoader.parse(
            text: """
                cts sxp connection peer 198.51.100.2 password none mode local speaker
                cts sxp connection peer 198.51.100.2 password none mode local listener
                """)
        XCTAssertEqual(result.config.sxp.connections.count, 1)
        XCTAssertEqual(result.config.sxp.connections.first?.localIsSpeaker, false)
    }
}
