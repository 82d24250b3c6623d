// Traffic selector narrowing (RFC 7296 §2.9): the responder narrows a wider
// proposal to its access list, the initiator installs what came back, and
// a proposal with no overlap gets TS_UNACCEPTABLE while the IKE SA stays up.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class NarrowingTests: XCTestCase {
    private func selector(_ prefix: String) -> TrafficSelector {
        TrafficSelector(prefix: IPPrefix(prefix)!)
    }

    /// Builds and establishes a lab whose gateways have the access list lines
    /// `linesA` and `linesB`, both written from A's view (A's addresses first).
    private func lab(_ linesA: [String], _ linesB: [String]) -> Lab {
        var optionsA = LabConfig.Options()
        optionsA.protected = linesA
        var optionsB = LabConfig.Options()
        optionsB.protected = linesB
        // A->B IKE_SA_INIT request and B->A response
        // A->B IKE_AUTH request: IDi, AUTH, SA, TSi, TSr (A's first line)
        // B->A IKE_AUTH response: IDr, AUTH, SA, TSi, TSr (narrowed), or N(TS_UNACCEPTABLE)
        // A->B CREATE_CHILD_SA request: SA, Ni, TSi, TSr (A's further lines)
        // B->A CREATE_CHILD_SA response: SA, Nr, TSi, TSr (narrowed), or N(TS_UNACCEPTABLE)
        return Lab.established(optionsA, optionsB)
    }

    func testResponderNarrowsAuthChild() {
        let lab = lab(
            ["192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255"],
            ["192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255"])
        XCTAssertEqual(lab.b.installed.count, 1)
        XCTAssertEqual(lab.b.installed.first?.remoteSelectors, [selector("192.0.2.0/25")])
        XCTAssertEqual(lab.b.installed.first?.localSelectors, [selector("203.0.113.0/24")])
        // The initiator installs what the responder returned.
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.a.installed.first?.localSelectors, [selector("192.0.2.0/25")])
        XCTAssertEqual(lab.a.installed.first?.remoteSelectors, [selector("203.0.113.0/24")])
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testResponderNarrowsCreateChild() {
        let lab = lab(
            [
                "192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255",
                "192.0.2.128 0.0.0.127 203.0.113.0 0.0.0.255",
            ],
            [
                "192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255",
                "192.0.2.128 0.0.0.63 203.0.113.0 0.0.0.127",
            ])
        XCTAssertEqual(lab.transcript.last, "B CREATE_CHILD_SA response 2")
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        let second = lab.a.installed[1]
        XCTAssertEqual(second.localSelectors, [selector("192.0.2.128/26")])
        XCTAssertEqual(second.remoteSelectors, [selector("203.0.113.0/25")])
        XCTAssertEqual(lab.b.installed[1].remoteSelectors, [selector("192.0.2.128/26")])
        XCTAssertEqual(lab.b.installed[1].localSelectors, [selector("203.0.113.0/25")])
        XCTAssertEqual(lab.a.problems, [])
    }

    func testNoOverlapInAuth() {
        let lab = lab(
            ["192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255"],
            ["192.0.2.128 0.0.0.127 203.0.113.0 0.0.0.255"])
        XCTAssertEqual(lab.a.installed.count, 0)
        XCTAssertEqual(lab.b.installed.count, 0)
        XCTAssertTrue(lab.a.problems.contains { $0.contains("TS_UNACCEPTABLE") })
        XCTAssertTrue(lab.b.problems.contains { $0.contains("no crypto map or tunnel covers") })
        // A Child SA failure leaves the IKE SA up (RFC 7296 §1.2).
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
    }

    func testNoOverlapInCreateChild() {
        let lab = lab(
            [
                "192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255",
                "192.0.2.128 0.0.0.127 203.0.113.0 0.0.0.255",
            ],
            ["192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255"])
        XCTAssertEqual(lab.transcript.last, "B CREATE_CHILD_SA response 2")
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        XCTAssertTrue(lab.a.problems.contains { $0.contains("TS_UNACCEPTABLE") })
        // The first Child SA and the IKE SA are untouched.
        XCTAssertEqual(lab.a.children.count, 1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.a.deleted, [])
    }
}
