// The SGT tagging decision over the life of a tunnel. Child SA rekeys keep
// it and replace the old pair only after the new one is installed on both
// sides. Child SA and IKE SA rekeys keep it after `crypto ikev2 cts sgt` is
// removed, while a brand-new IKE SA decides afresh. Also several Child SAs
// over one IKE SA, from two ACL lines or two crypto map entries.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class TaggingLifecycleTests: XCTestCase {
    private func withoutSGT(_ gateway: String) -> GatewayConfig {
        var options = LabConfig.Options()
        options.sgt = false
        return ConfigLoader.parse(text: LabConfig.text(gateway: gateway, options)).config
    }

    private func vendorIDsSent(_ gateway: Gateway) -> Int {
        gateway.debugLines.filter { $0.contains("Sending custom vendor id") }.count
    }

    func testRekeyKeepsTaggingAndOrder() {
        let lab = Lab.established()
        let old = lab.a.installed[0]
        XCTAssertTrue(old.taggingNegotiated)
        var order: [String] = []
        lab.network = { datagram in
            order.append(
                "\(Lab.describe(datagram.bytes)) A:\(lab.a.installed.count)/"
                    + "\(lab.a.deleted.count) B:\(lab.b.installed.count)/\(lab.b.deleted.count)")
            return datagram
        }
        // A->B CREATE_CHILD_SA request: N(REKEY_SA), SA, Ni, TSi, TSr (the same selectors)
        // B->A CREATE_CHILD_SA response: SA, Nr, TSi, TSr
        // A->B INFORMATIONAL request: D(old SPI), one rekeyDeleteDelay later
        // B->A INFORMATIONAL response: D(B's old SPI)
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        lab.advance(1)

        // Installs and deletes seen as each message left: the old pair goes
        // only after both sides installed the new one.
        XCTAssertEqual(
            order,
            [
                "CREATE_CHILD_SA request 2 A:1/0 B:1/0",
                "CREATE_CHILD_SA response 2 A:1/0 B:2/0",
                "INFORMATIONAL request 3 A:2/0 B:2/0",
                "INFORMATIONAL response 3 A:2/0 B:2/1",
            ])
        for new in [lab.a.installed[1], lab.b.installed[1]] {
            XCTAssertTrue(new.taggingNegotiated)
        }
        XCTAssertEqual(lab.a.installed[1].localSelectors, old.localSelectors)
        XCTAssertEqual(lab.a.installed[1].remoteSelectors, old.remoteSelectors)
        XCTAssertEqual(lab.a.deleted, [old.inboundSPI])
        XCTAssertEqual(lab.b.deleted, [lab.b.installed[0].inboundSPI])
    }

    func testSuccessorsTagAfterSGTRemoved() throws {
        let lab = Lab.established()
        XCTAssertEqual(vendorIDsSent(lab.a), 1)
        lab.a.engine.updateConfig(withoutSGT("A"))
        lab.b.engine.updateConfig(withoutSGT("B"))

        // A->B CREATE_CHILD_SA request: N(REKEY_SA), SA, Ni, TSi, TSr
        // B->A CREATE_CHILD_SA response: SA, Nr, TSi, TSr; then the Delete exchange.
        lab.a.engine.childSAExpiring(inboundSPI: lab.a.installed[0].inboundSPI, hard: false)
        lab.run()
        lab.advance(1)
        XCTAssertTrue(lab.a.installed[1].taggingNegotiated)
        XCTAssertTrue(lab.b.installed[1].taggingNegotiated)

        // A->B CREATE_CHILD_SA request: SA (IKE), Ni, KEi
        // B->A CREATE_CHILD_SA response: SA (IKE), Nr, KEr; then D(IKE) on the old SA.
        XCTAssertTrue(lab.a.engine.rekeyIKESA(tunnelID: 1))
        lab.run()
        XCTAssertEqual(lab.a.establishedStates.count, 1)
        XCTAssertEqual(lab.a.ready.first?.sgtEnabled, true)
        XCTAssertEqual(lab.b.ready.first?.sgtEnabled, true)
        XCTAssertTrue(lab.a.children.allSatisfy(\.taggingNegotiated))
        XCTAssertTrue(lab.b.children.allSatisfy(\.taggingNegotiated))

        // A Child SA rekey on the rekeyed IKE SA still tags, from either side.
        lab.b.engine.childSAExpiring(inboundSPI: lab.b.children[0].inboundSPI, hard: false)
        lab.run()
        lab.advance(1)
        XCTAssertEqual(lab.a.installed.count, 3)
        XCTAssertTrue(lab.a.installed[2].taggingNegotiated)
        XCTAssertTrue(lab.b.installed[2].taggingNegotiated)

        // A second IKE SA rekey, from B, keeps it too.
        let tunnel = try XCTUnwrap(lab.b.establishedStates.first?.tunnelID)
        XCTAssertTrue(lab.b.engine.rekeyIKESA(tunnelID: tunnel))
        lab.run()
        XCTAssertEqual(lab.b.ready.first?.sgtEnabled, true)
        XCTAssertTrue(lab.a.children.allSatisfy(\.taggingNegotiated))
        XCTAssertEqual(vendorIDsSent(lab.a), 1)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])

        // After a clear, the new IKE SA decides afresh: no Vendor ID, no tagging.
        // A->B INFORMATIONAL request: D(IKE); B->A response
        // A->B IKE_SA_INIT request: SA, KEi, Ni, N(NAT_DETECTION_*), no V
        lab.capture()
        lab.a.engine.clear(tunnelID: nil)
        lab.run()
        lab.advance(1)
        let request = try XCTUnwrap(datagrams(lab.captured, "IKE_SA_INIT request 0").first)
        XCTAssertEqual(try ReceivedMessage.decode(request.bytes).clearMessage.vendorIDs, [])
        XCTAssertEqual(vendorIDsSent(lab.a), 1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.a.ready.first?.sgtEnabled, false)
        XCTAssertEqual(lab.a.children.count, 1)
        XCTAssertFalse(lab.a.children[0].taggingNegotiated)
        XCTAssertFalse(lab.b.children[0].taggingNegotiated)
    }

    func testTwoACLLinesOneIKESA() throws {
        var options = LabConfig.Options()
        options.protected = [
            "192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255",
            "192.0.2.128 0.0.0.127 203.0.113.0 0.0.0.255",
        ]
        // A->B IKE_SA_INIT, IKE_AUTH (first line), then CREATE_CHILD_SA: SA, Ni, TSi, TSr
        let lab = Lab.established(options)
        XCTAssertEqual(
            lab.transcript,
            [
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0", "A IKE_AUTH request 1",
                "B IKE_AUTH response 1", "A CREATE_CHILD_SA request 2",
                "B CREATE_CHILD_SA response 2",
            ])
        let state = try XCTUnwrap(lab.a.establishedStates.first)
        XCTAssertEqual(lab.a.establishedStates.count, 1)
        XCTAssertEqual(lab.a.children.count, 2)
        XCTAssertEqual(lab.b.children.count, 2)
        XCTAssertEqual(Set(lab.a.children.map(\.ikeSAName)), [state.name])
        XCTAssertTrue(lab.a.children.allSatisfy(\.taggingNegotiated))
        XCTAssertTrue(lab.b.children.allSatisfy(\.taggingNegotiated))
        XCTAssertEqual(
            lab.a.children.map(\.localSelectors),
            [
                [TrafficSelector(prefix: IPPrefix("192.0.2.0/25")!)],
                [TrafficSelector(prefix: IPPrefix("192.0.2.128/25")!)],
            ])
    }

    /// Returns a gateway's lab configuration with a second crypto map entry
    /// for the same peer. cmap 10 covers the lower half of 192.0.2.0/24 and
    /// cmap 20 the upper half.
    private func twoEntryConfig(_ gateway: String) -> String {
        var options = LabConfig.Options()
        options.protected = ["192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255"]
        let isA = gateway == "A"
        let peer = isA ? "198.51.100.2" : "198.51.100.1"
        let acl =
            isA
            ? "192.0.2.128 0.0.0.127 203.0.113.0 0.0.0.255"
            : "203.0.113.0 0.0.0.255 192.0.2.128 0.0.0.127"
        return LabConfig.text(gateway: gateway, options) + """

            ip access-list extended protect2
             permit ip \(acl)
            crypto map cmap 20 ipsec-isakmp
             set peer \(peer)
             set transform-set ts
             set ikev2-profile lab
             match address protect2
            """
    }

    func testTwoEntriesOneIKESA() throws {
        let lab = Lab(configA: twoEntryConfig("A"), configB: twoEntryConfig("B"))
        // A->B IKE_SA_INIT and IKE_AUTH for "cmap 10"; "cmap 20" adopts the
        // same IKE SA: A->B CREATE_CHILD_SA request: SA, Ni, TSi, TSr
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.transcript.filter { $0.contains("IKE_SA_INIT request") }.count, 1)
        XCTAssertEqual(lab.transcript.last, "B CREATE_CHILD_SA response 2")
        XCTAssertEqual(lab.a.establishedStates.count, 1)
        XCTAssertEqual(lab.a.children.count, 2)
        XCTAssertEqual(lab.b.children.count, 2)
        XCTAssertEqual(
            lab.a.children.map(\.localSelectors),
            [
                [TrafficSelector(prefix: IPPrefix("192.0.2.0/25")!)],
                [TrafficSelector(prefix: IPPrefix("192.0.2.128/25")!)],
            ])
        // Both targets stay served, so nothing initiates again.
        let before = lab.transcript.count
        lab.advance(30)
        XCTAssertEqual(lab.transcript.count, before)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testSimultaneousStartNoDuplicateChild() throws {
        // Both gateways initiate for both entries at once. B, the higher
        // address, deletes the IKE SA it initiated, with that SA's two Child
        // SAs, and adopts A's. A's request for cmap 20's Child SA is lost once,
        // so B has finished its delete before the retransmission arrives; B
        // must not create a second Child SA for the same selectors meanwhile.
        let lab = Lab(
            configA: twoEntryConfig("A"), configB: twoEntryConfig("B"), passiveB: false)
        let lost = lab.loseChildRequests(["A": 1])

        lab.a.engine.start()
        lab.b.engine.start()
        lab.run()
        for _ in 0..<10 { lab.advance(1) }
        lab.advance(30)
        XCTAssertEqual(lost(), ["A": 1])

        for gateway in [lab.a!, lab.b!] {
            XCTAssertEqual(gateway.engine.ikeSAStatuses().count, 1, gateway.name)
            let live = gateway.installed.filter { !gateway.deleted.contains($0.inboundSPI) }
            let pairs = Set(live.map { "\($0.localSelectors) \($0.remoteSelectors)" })
            XCTAssertEqual(live.count, 2, "\(gateway.name): \(pairs) \(lab.transcript)")
            XCTAssertEqual(pairs.count, 2, "\(gateway.name): \(pairs)")
            XCTAssertEqual(gateway.problems, [], gateway.name)
        }
    }

    func testAdoptedSAMissingChildAfterDelay() throws {
        // A's single entry covers all of 192.0.2.0/24; B splits it over two
        // entries. A initiates, and B narrows the first Child SA to cmap 10's
        // half. B then adopts A's IKE SA for cmap 20 and waits
        // adoptedChildDelay for A before creating that Child SA itself.
        let lab = Lab(
            configA: LabConfig.text(gateway: "A"), configB: twoEntryConfig("B"),
            passiveB: false)
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.b.children.count, 1)
        lab.b.engine.start()
        XCTAssertTrue(lab.b.outbox.isEmpty)
        XCTAssertEqual(lab.b.engine.nextTimerDeadline(), lab.now + lab.b.engine.adoptedChildDelay)
        lab.advance(lab.b.engine.adoptedChildDelay - 1)
        XCTAssertFalse(lab.transcript.contains("B CREATE_CHILD_SA request 0"))
        lab.advance(1)
        XCTAssertEqual(
            lab.transcript.suffix(2),
            ["B CREATE_CHILD_SA request 0", "A CREATE_CHILD_SA response 0"])
        XCTAssertEqual(lab.a.engine.ikeSAStatuses().count, 1)
        XCTAssertEqual(
            Set(lab.b.children.map(\.remoteSelectors)),
            [
                [TrafficSelector(prefix: IPPrefix("192.0.2.0/25")!)],
                [TrafficSelector(prefix: IPPrefix("192.0.2.128/25")!)],
            ])
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }
}
