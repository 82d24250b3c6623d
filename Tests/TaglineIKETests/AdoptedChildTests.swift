// Simultaneous initiation, adopted IKE SAs and the wait before an adopted
// target creates its own Child SAs: entries that only one side has, lost
// and rejected CREATE_CHILD_SA requests, a delete, a reload and an IKE SA
// rekey during the wait. Each run must end with one IKE SA per side and
// one Child SA pair per selector pair.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class AdoptedChildTests: XCTestCase {
    /// The quarters of 192.0.2.0/24 as wildcard access list words.
    private static let quarters = ["0", "64", "128", "192"]

    /// Returns a gateway's configuration with one crypto map entry per
    /// quarter of 192.0.2.0/24 in `blocks` (entries 10, 20, 30, ...), or, for
    /// `blocks == nil`, the single entry covering the whole /24.
    private func config(_ gateway: String, blocks: [Int]?) -> String {
        guard let blocks, let first = blocks.first else {
            return LabConfig.text(gateway: gateway)
        }
        var options = LabConfig.Options()
        options.protected = ["192.0.2.\(Self.quarters[first]) 0.0.0.63 203.0.113.0 0.0.0.255"]
        let isA = gateway == "A"
        let peer = isA ? "198.51.100.2" : "198.51.100.1"
        var text = LabConfig.text(gateway: gateway, options)
        for (position, block) in blocks.enumerated().dropFirst() {
            let ours = "192.0.2.\(Self.quarters[block]) 0.0.0.63"
            let theirs = "203.0.113.0 0.0.0.255"
            let acl = isA ? "\(ours) \(theirs)" : "\(theirs) \(ours)"
            text += """

                ip access-list extended protect\(position + 1)
                 permit ip \(acl)
                crypto map cmap \((position + 1) * 10) ipsec-isakmp
                 set peer \(peer)
                 set transform-set ts
                 set ikev2-profile lab
                 match address protect\(position + 1)
                """
        }
        return text
    }

    /// Returns the Child SAs a gateway installed and has not deleted.
    /// Returns a lab whose two gateways both initiate, each with the entries of `blocks`.
    private func activeLab(blocks: [Int]) -> Lab {
        Lab(
            configA: config("A", blocks: blocks), configB: config("B", blocks: blocks),
            passiveB: false)
    }

    private func live(_ gateway: Gateway) -> [ChildSA] {
        gateway.installed.filter { !gateway.deleted.contains($0.inboundSPI) }
    }

    /// Checks one IKE SA on each side and `pairs` Child SAs, no two for the same selectors.
    private func assertSettled(
        _ lab: Lab, pairs: Int, file: StaticString = #filePath, line: UInt = #line
    ) {
        for gateway in [lab.a!, lab.b!] {
            let statuses = gateway.engine.ikeSAStatuses()
            XCTAssertEqual(
                statuses.count, 1, "\(gateway.name) IKE SAs: \(statuses.map(\.status))",
                file: file, line: line)
            let children = live(gateway)
            let selectors = children.map { "\($0.localSelectors) \($0.remoteSelectors)" }
            XCTAssertEqual(
                children.count, pairs, "\(gateway.name): \(selectors)\n\(lab.transcript)",
                file: file, line: line)
            XCTAssertEqual(
                Set(selectors).count, children.count, "\(gateway.name): \(selectors)",
                file: file, line: line)
        }
    }

    private func settle(_ lab: Lab, seconds: Int = 40) {
        for _ in 0..<seconds { lab.advance(1) }
    }

    func testBothStartOneToThreeEntries() {
        for count in 1...3 {
            let blocks = Array(0..<count)
            let lab = activeLab(blocks: blocks)
            lab.a.engine.start()
            lab.b.engine.start()
            lab.run()
            settle(lab)
            assertSettled(lab, pairs: count)
            XCTAssertEqual(lab.a.problems, [], "\(count) entries")
            XCTAssertEqual(lab.b.problems, [], "\(count) entries")
        }
    }

    func testBothStartAsymmetricEntries() {
        // One side has an entry the other lacks: A protects quarters 0-2, B 0-1.
        // A's third Child SA is created by A; B has no policy for it at all.
        let cases: [([Int]?, [Int]?, Int)] = [
            ([0, 1, 2], [0, 1], 2), ([0, 1], [0, 1, 2], 2), (nil, [0, 1, 2], 3),
            ([0, 1, 2], nil, 3),
        ]
        for (blocksA, blocksB, pairs) in cases {
            let lab = Lab(
                configA: config("A", blocks: blocksA), configB: config("B", blocks: blocksB),
                passiveB: false)
            lab.a.engine.start()
            lab.b.engine.start()
            lab.run()
            settle(lab)
            assertSettled(lab, pairs: pairs)
        }
    }

    func testBothStartLostChildRequests() {
        // A's first `lost` CREATE_CHILD_SA transmissions are lost (the
        // retransmissions go 1 s, 3 s and 7 s after the first), with two and
        // three entries.
        for (lost, count) in [(1, 2), (2, 2), (3, 2), (1, 3), (3, 3), (4, 3)] {
            let blocks = Array(0..<count)
            let lab = activeLab(blocks: blocks)
            let dropped = lab.loseChildRequests(["A": lost])
            lab.a.engine.start()
            lab.b.engine.start()
            lab.run()
            settle(lab)
            XCTAssertEqual(dropped(), ["A": lost])
            assertSettled(lab, pairs: count)
            XCTAssertEqual(lab.a.problems, [], "\(lost) lost of \(count)")
            XCTAssertEqual(lab.b.problems, [], "\(lost) lost of \(count)")
        }
    }

    func testCrossingChildRequests() {
        // A's cmap 20 request is lost three times and B's own, sent after
        // the wait, twice: both retransmissions leave 7 s after A's first
        // transmission and cross. B, the higher address, rejects A's.
        let blocks = [0, 1]
        let lab = activeLab(blocks: blocks)
        let dropped = lab.loseChildRequests(["A": 3, "B": 2])

        lab.a.engine.start()
        lab.b.engine.start()
        lab.run()
        settle(lab)

        XCTAssertEqual(dropped(), ["A": 3, "B": 2])
        let transcript = lab.transcript.joined(separator: "\n")
        XCTAssertTrue(
            transcript.contains(
                "A CREATE_CHILD_SA request 2\nB CREATE_CHILD_SA request 0\n"
                    + "A CREATE_CHILD_SA response 0\nB CREATE_CHILD_SA response 2"),
            transcript)
        assertSettled(lab, pairs: 2)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testPeerDeletesDuringWait() {
        let blocks = [0, 1]
        let lab = activeLab(blocks: blocks)
        // A's cmap 20 request is lost, so B is waiting when A clears the IKE SA.
        lab.loseChildRequests(["A": 1])
        lab.a.engine.start()
        lab.b.engine.start()
        lab.run()
        lab.advance(0.5)
        XCTAssertEqual(lab.a.engine.clear(tunnelID: nil), 1)
        lab.run()
        settle(lab, seconds: 60)
        assertSettled(lab, pairs: 2)
    }

    func testReloadAddsEntryWhileAdopted() {
        // A initiated the IKE SA; B adopted it. Both then add cmap 20, B
        // first and A `gap` seconds later.
        for gap in [0.0, 1, 3.5, 4.5, 10] {
            let lab = Lab(
                configA: config("A", blocks: [0]), configB: config("B", blocks: [0]),
                passiveB: false)
            lab.a.engine.start()
            lab.run()
            lab.b.engine.start()
            lab.run()
            settle(lab, seconds: 2)
            assertSettled(lab, pairs: 1)
            lab.b.engine.updateConfig(
                ConfigLoader.parse(text: config("B", blocks: [0, 1])).config)
            lab.b.engine.start()
            lab.run()
            lab.advance(gap)
            lab.a.engine.updateConfig(
                ConfigLoader.parse(text: config("A", blocks: [0, 1])).config)
            lab.a.engine.start()
            lab.run()
            settle(lab)
            assertSettled(lab, pairs: 2)
        }
    }

    func testIKERekeyDuringWait() {
        // Either side rekeys the surviving IKE SA right after the
        // simultaneous start, while B waits for A's cmap 20 Child SA.
        for rekeyer in ["A", "B"] {
            let blocks = [0, 1]
            let lab = activeLab(blocks: blocks)
            lab.loseChildRequests(["A": 1])
            lab.a.engine.start()
            lab.b.engine.start()
            lab.run()
            let gateway = rekeyer == "A" ? lab.a! : lab.b!
            let survivor = gateway.engine.ikeSAStatuses().first { $0.status == "READY" }
            XCTAssertNotNil(survivor)
            if let survivor {
                XCTAssertTrue(gateway.engine.rekeyIKESA(tunnelID: survivor.tunnelID))
            }
            lab.run()
            settle(lab, seconds: 60)
            assertSettled(lab, pairs: 2)
        }
    }

    func testChildRequestDuringIKERekey() {
        // B rekeys the IKE SA while A's cmap 20 request is on its way. The
        // rekey request and A's first transmission are lost, so A's
        // retransmission meets B's pending rekey and gets TEMPORARY_FAILURE.
        // A tries again only after `rekeyRetryInterval`, after B's wait.
        let blocks = [0, 1]
        let lab = activeLab(blocks: blocks)
        lab.loseChildRequests(["A": 1, "B": 1])

        lab.a.engine.start()
        lab.b.engine.start()
        lab.run()
        let survivor = lab.b.engine.ikeSAStatuses().first { $0.status == "READY" }
        XCTAssertTrue(lab.b.engine.rekeyIKESA(tunnelID: survivor?.tunnelID ?? 0))
        lab.run()
        settle(lab, seconds: 60)

        XCTAssertTrue(
            lab.a.logLines.contains { $0.message.contains("got TEMPORARY_FAILURE") },
            lab.transcript.joined(separator: "\n"))
        assertSettled(lab, pairs: 2)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testClearChildSAsTwoEntries() {
        // `clear crypto sa` on either side deletes the Child SAs of both
        // entries. The IKE SA stays and both pairs come back, also after B
        // rekeyed the IKE SA and so became the initiator of the new one.
        for (clearing, rekeyer) in [("A", nil), ("B", nil), ("A", "B"), ("B", "B"), ("B", "A")] {
            let blocks = [0, 1]
            let lab = activeLab(blocks: blocks)
            lab.a.engine.start()
            lab.b.engine.start()
            lab.run()
            settle(lab)
            assertSettled(lab, pairs: 2)
            if let rekeyer {
                let gateway = rekeyer == "A" ? lab.a! : lab.b!
                let survivor = gateway.engine.ikeSAStatuses().first { $0.status == "READY" }
                XCTAssertTrue(gateway.engine.rekeyIKESA(tunnelID: survivor?.tunnelID ?? 0))
                lab.run()
                settle(lab, seconds: 5)
                assertSettled(lab, pairs: 2)
            }

            let gateway = clearing == "A" ? lab.a! : lab.b!
            XCTAssertEqual(gateway.engine.clearChildSAs(peer: nil), 2, clearing)
            lab.run()
            settle(lab)
            assertSettled(lab, pairs: 2)
        }
    }

    func testClearChildSAsAsymmetricEntries() {
        // A's one entry covers the /24 and B splits two quarters of it over
        // two entries. A narrowed Child SA per quarter comes back after a
        // clear on either side.
        for clearing in ["A", "B"] {
            let lab = Lab(
                configA: config("A", blocks: nil), configB: config("B", blocks: [0, 1]),
                passiveB: false)
            lab.a.engine.start()
            lab.b.engine.start()
            lab.run()
            settle(lab)
            assertSettled(lab, pairs: 2)

            let gateway = clearing == "A" ? lab.a! : lab.b!
            XCTAssertEqual(gateway.engine.clearChildSAs(peer: nil), 2, clearing)
            lab.run()
            settle(lab)
            assertSettled(lab, pairs: 2)
        }
    }
}
