// Every IKE transform and every ESP transform set that Tagline supports,
// negotiated end to end at least once; and proposal mismatches.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class TransformNegotiationTests: XCTestCase {
    /// IKE proposals that together use each ENCR, PRF, INTEG and DH transform.
    private let ikeProposals: [(text: String, encryption: String, prf: String, group: Int)] = [
        ("encryption 3des\n integrity md5\n prf md5\n group 2", "3DES", "MD5", 2),
        (
            "encryption aes-cbc-128\n integrity sha1\n prf sha1\n group 14",
            "AES-CBC, keysize: 128", "SHA1", 14
        ),
        (
            "encryption aes-cbc-256\n integrity sha256\n prf sha256\n group 19",
            "AES-CBC, keysize: 256", "SHA256", 19
        ),
        ("encryption aes-gcm-128\n prf sha256\n group 19", "AES-GCM, keysize: 128", "SHA256", 19),
        ("encryption aes-gcm-256\n prf sha1\n group 14", "AES-GCM, keysize: 256", "SHA1", 14),
        (
            "encryption aes-cbc-128\n integrity sha256\n group 14", "AES-CBC, keysize: 128",
            "SHA256", 14
        ),
    ]

    /// Transform sets with the algorithms and KEYMAT lengths they must produce.
    private let transformSets:
        [(
            text: String, encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?,
            keyLength: Int
        )] = [
            ("esp-3des esp-md5-hmac", .tripleDES, .hmacMD5_96, 24),
            ("esp-aes esp-sha-hmac", .aesCBC128, .hmacSHA1_96, 16),
            ("esp-aes 256 esp-sha256-hmac", .aesCBC256, .hmacSHA256_128, 32),
            ("esp-gcm 128", .aesGCM128, nil, 20),
            ("esp-gcm 256", .aesGCM256, nil, 36),
            ("esp-null esp-sha-hmac", .null, .hmacSHA1_96, 0),
        ]

    func testEachTransformNegotiates() throws {
        for (index, ike) in ikeProposals.enumerated() {
            let esp = transformSets[index]
            var options = LabConfig.Options()
            options.ikeProposal = ike.text
            options.transformSet = esp.text
            let lab = Lab(
                configA: LabConfig.text(gateway: "A", options),
                configB: LabConfig.text(gateway: "B", options))
            lab.a.engine.start()
            lab.run()

            let status = try XCTUnwrap(lab.a.ready.first, "IKE SA with \(ike.text)")
            XCTAssertEqual(status.encryption, ike.encryption)
            XCTAssertEqual(status.prf, ike.prf)
            XCTAssertEqual(status.dhGroup, ike.group)
            let childA = try XCTUnwrap(lab.a.installed.first, "Child SA with \(esp.text)")
            let childB = try XCTUnwrap(lab.b.installed.first)
            XCTAssertEqual(childA.encryption, esp.encryption)
            XCTAssertEqual(childA.integrity, esp.integrity)
            XCTAssertEqual(childA.transformDescription, esp.text)
            XCTAssertEqual(childA.outboundKeys.encryptionKey.bytes.count, esp.keyLength)
            XCTAssertEqual(
                childA.outboundKeys.integrityKey.bytes.count, esp.integrity?.keyLength ?? 0)
            XCTAssertEqual(childA.outboundKeys, childB.inboundKeys)
            XCTAssertEqual(childA.inboundKeys, childB.outboundKeys)
        }
    }

    func testNoCommonIKEProposalIsRejected() {
        var optionsA = LabConfig.Options()
        optionsA.ikeProposal = "encryption 3des\n integrity md5\n group 2"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA), configB: LabConfig.text(gateway: "B"))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.transcript, ["A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0"])
        XCTAssertTrue(lab.a.problems.first?.contains("NO_PROPOSAL_CHOSEN") ?? false)
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
        XCTAssertEqual(lab.b.engine.dropCounters["IKE_SA_INIT rejected"], 1)
    }

    func testOtherGroupIsRequestedWithInvalidKE() throws {
        // A prefers group 19 but also offers 14; B accepts only 14, so it requests
        // a KE in group 14 and A sends IKE_SA_INIT again.
        var optionsA = LabConfig.Options()
        optionsA.ikeProposal = "encryption aes-cbc-128\n integrity sha256\n group 19 14"
        var optionsB = LabConfig.Options()
        optionsB.ikeProposal = "encryption aes-cbc-128\n integrity sha256\n group 14"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA),
            configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(
            lab.transcript,
            [
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
                "A IKE_AUTH request 1", "B IKE_AUTH response 1",
            ])
        XCTAssertEqual(try XCTUnwrap(lab.a.ready.first).dhGroup, 14)
    }

    func testNoCommonTransformSetKeepsIKESA() {
        var optionsB = LabConfig.Options()
        optionsB.transformSet = "esp-3des esp-sha-hmac"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertTrue(lab.a.installed.isEmpty)
        XCTAssertTrue(lab.b.installed.isEmpty)
        XCTAssertTrue(lab.a.problems.first?.contains("NO_PROPOSAL_CHOSEN") ?? false)
    }

    func testUncoveredSelectorsAreRejected() {
        var optionsB = LabConfig.Options()
        optionsB.protected = ["192.0.2.0 0.0.0.255 198.51.100.0 0.0.0.255"]
        let lab = Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertTrue(lab.a.installed.isEmpty)
        XCTAssertTrue(lab.a.problems.first?.contains("TS_UNACCEPTABLE") ?? false)
    }

    func testResponderNarrowsSelectors() throws {
        // B protects only one host pair inside the subnets A proposes.
        var optionsB = LabConfig.Options()
        optionsB.protected = ["192.0.2.10 0.0.0.0 203.0.113.20 0.0.0.0"]
        let lab = Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        lab.run()
        let child = try XCTUnwrap(lab.a.installed.first)
        XCTAssertEqual(child.localSelectors, [TrafficSelector(prefix: IPPrefix("192.0.2.10/32")!)])
        XCTAssertEqual(
            child.remoteSelectors, [TrafficSelector(prefix: IPPrefix("203.0.113.20/32")!)])
    }

    func testEachACLEntryGetsChildSA() throws {
        // Two permit entries: the first Child SA comes with IKE_AUTH, the second
        // with CREATE_CHILD_SA.
        var options = LabConfig.Options()
        options.protected = [
            "192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.127",
            "192.0.2.128 0.0.0.127 203.0.113.128 0.0.0.127",
        ]
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", options),
            configB: LabConfig.text(gateway: "B", options))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(
            Array(lab.transcript.suffix(2)),
            [
                "A CREATE_CHILD_SA request 2", "B CREATE_CHILD_SA response 2",
            ])
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        let second = try XCTUnwrap(lab.a.installed.last)
        XCTAssertEqual(
            second.localSelectors, [TrafficSelector(prefix: IPPrefix("192.0.2.128/25")!)])
        XCTAssertEqual(second.outboundKeys, lab.b.installed.last?.inboundKeys)
        XCTAssertNotEqual(second.outboundKeys, lab.a.installed.first?.outboundKeys)
        XCTAssertTrue(second.taggingNegotiated)
        XCTAssertEqual(try XCTUnwrap(lab.a.ready.first).childSAInboundSPIs.count, 2)
    }
}
