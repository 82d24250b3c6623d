import CTaglineShim
import Foundation
import XCTest

@testable import TaglineDataplane

/// Interface MTUs read on each kernel refresh: the RTM_NEWLINK parse, a dump on a real veth
/// after `ip link set mtu`, and a TX ring that withholds a frame over the new MTU.
final class LiveMTUTests: XCTestCase {
    /// Builds an RTM_NEWLINK body: ifinfomsg for `index`, then the (type, payload) attributes.
    private func linkBody(index: Int32, attributes: [(UInt16, [UInt8])]) -> [UInt8] {
        var message = ifinfomsg()
        message.ifi_index = index
        var body = withUnsafeBytes(of: message) { Array($0) }
        for (type, payload) in attributes {
            let length = UInt16(4 + payload.count)
            body += withUnsafeBytes(of: length) { Array($0) }
            body += withUnsafeBytes(of: type) { Array($0) }
            body += payload
            while body.count % 4 != 0 { body.append(0) }
        }
        return body
    }

    private func mtuPayload(_ mtu: UInt32) -> [UInt8] { withUnsafeBytes(of: mtu) { Array($0) } }

    func testParseLinkMTU() {
        let name: [UInt8] = Array("in0".utf8) + [0]
        let body = linkBody(
            index: 7,
            attributes: [(UInt16(IFLA_IFNAME), name), (UInt16(IFLA_MTU), mtuPayload(1300))])
        let parsed = body.withUnsafeBytes { RouteNetlink.parseLink($0) }
        XCTAssertEqual(parsed?.index, 7)
        XCTAssertEqual(parsed?.mtu, 1300)
    }

    func testParseLinkRejectsMalformed() {
        let withoutMTU = linkBody(index: 7, attributes: [(UInt16(IFLA_IFNAME), [0x61, 0])])
        XCTAssertNil(withoutMTU.withUnsafeBytes { RouteNetlink.parseLink($0) })

        let shortMTU = linkBody(index: 7, attributes: [(UInt16(IFLA_MTU), [0x05, 0x14])])
        XCTAssertNil(shortMTU.withUnsafeBytes { RouteNetlink.parseLink($0) })

        let full = linkBody(index: 7, attributes: [(UInt16(IFLA_MTU), mtuPayload(1300))])
        let truncated = Array(full.prefix(MemoryLayout<ifinfomsg>.size - 1))
        XCTAssertNil(truncated.withUnsafeBytes { RouteNetlink.parseLink($0) })

        // The attribute announces 12 bytes but the body ends after 8.
        var overrun = full
        overrun[MemoryLayout<ifinfomsg>.size] = 12
        XCTAssertNil(overrun.withUnsafeBytes { RouteNetlink.parseLink($0) })

        let noIndex = linkBody(index: 0, attributes: [(UInt16(IFLA_MTU), mtuPayload(1300))])
        XCTAssertNil(noIndex.withUnsafeBytes { RouteNetlink.parseLink($0) })
    }

    func testUpdatingMTUReportsChange() {
        let info = InterfaceInfo(
            name: "in0", index: 7, mac: MACAddress(bytes: [2, 0, 0, 0, 0, 1])!, mtu: 1500)
        var snapshot = KernelSnapshot()
        XCTAssertNil(info.updatingMTU(from: snapshot).1, "an interface missing from the dump")
        XCTAssertEqual(info.updatingMTU(from: snapshot).0.mtu, 1500)

        snapshot.linkMTUs[7] = 1500
        XCTAssertNil(info.updatingMTU(from: snapshot).1)

        snapshot.linkMTUs[7] = 1300
        let (updated, change) = info.updatingMTU(from: snapshot)
        XCTAssertEqual(updated.mtu, 1300)
        XCTAssertEqual(change, InterfaceMTUChange(interface: "in0", previousMTU: 1500, mtu: 1300))
        let table = snapshot.forwardingTable(inside: info, outside: info)
        XCTAssertEqual(table.inside.mtu, 1300)
    }

    /// `ip link set address` keeps the index: the table takes the MAC address of the dump,
    /// because the dataplane routes only the frames sent to it.
    func testForwardingTableTakesDumpedMAC() {
        let info = InterfaceInfo(
            name: "in0", index: 7, mac: MACAddress(bytes: [2, 0, 0, 0, 0, 1])!, mtu: 1500)
        var snapshot = KernelSnapshot()
        XCTAssertEqual(snapshot.forwardingTable(inside: info, outside: info).inside.mac, info.mac)

        let changed = MACAddress(bytes: [2, 0, 0x5E, 0, 0x53, 1])!
        snapshot.linkMACs[7] = changed
        XCTAssertEqual(snapshot.forwardingTable(inside: info, outside: info).inside.mac, changed)

        let body = linkBody(
            index: 7,
            attributes: [
                (UInt16(IFLA_MTU), mtuPayload(1500)),
                (UInt16(IFLA_ADDRESS), [2, 0, 0x5E, 0, 0x53, 1]),
            ])
        XCTAssertEqual(body.withUnsafeBytes { RouteNetlink.parseLink($0) }?.mac, changed)
    }
}

/// The same on a real veth pair in network namespaces; needs root.
final class LiveMTUNamespaceTests: XCTestCase {
    private var lab: NamespaceLab!

    override func setUpWithError() throws {
        guard getuid() == 0 else {
            throw XCTSkip("creating network namespaces needs root; run the tests as root")
        }
        lab = NamespaceLab()
        try lab.create()
        // The tests count g1o's transmitted packets, so the kernel must send none of its own:
        // without IPv6 it sends no router solicitation, DAD or MLD report there.
        try lab.must([
            "ip", "netns", "exec", lab.gateway1, "sysctl", "-q", "-w",
            "net.ipv6.conf.g1o.disable_ipv6=1",
        ])
    }

    override func tearDown() {
        lab?.destroy()
    }

    func testSnapshotFollowsLinkMTU() throws {
        try lab.must(["ip", "-n", lab.gateway1, "link", "set", "g1o", "mtu", "1300"])
        let (index, mtu) = try lab.inNamespace(lab.gateway1) {
            let index = try InterfaceInfo.read("g1o").index
            return (index, try RouteNetlink().snapshot().linkMTUs[index])
        }
        XCTAssertGreaterThan(index, 0)
        XCTAssertEqual(mtu, 1300)
    }

    /// Broadcast frame of `length` bytes with ethertype 0x88B5 (local experimental).
    private static func frame(length: Int) -> [UInt8] {
        [UInt8](repeating: 0xFF, count: 6) + [UInt8](repeating: 0x02, count: 6) + [0x88, 0xB5]
            + [UInt8](repeating: 0, count: length - 14)
    }

    /// Packets the kernel transmitted on g1o, from `ip -s -j link`.
    private func transmitted() throws -> Int {
        let result = try NamespaceLab.run([
            "ip", "-n", lab.gateway1, "-s", "-j", "link", "show", "dev", "g1o",
        ])
        let links =
            try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]]
        let stats = links?.first?["stats64"] as? [String: Any]
        let tx = stats?["tx"] as? [String: Any]
        return try XCTUnwrap(tx?["packets"] as? Int, "no tx packets in: \(result.output)")
    }

    /// Reserves a slot, copies `frame` into it and commits it.
    private func send(_ frame: [UInt8], on ring: TXRing) {
        ring.reserveFrame()!.copyBytes(from: frame)
        ring.commitFrame(offset: 0, length: frame.count)
    }

    /// Checks a frame over the MTU that reaches the kernel, as between an MTU drop and the
    /// next table: it does not hold back the later frames. The packet socket does not check
    /// the MTU of a frame with a virtio-net header, so the driver decides whether it leaves.
    /// On veth it does, because the peer's MTU is still 1500.
    func testOversizeFrameSkipped() throws {
        let ring = try lab.inNamespace(lab.gateway1) {
            try TXRing(interface: InterfaceInfo.read("g1o"))
        }
        try lab.must(["ip", "-n", lab.gateway1, "link", "set", "g1o", "mtu", "1300"])
        let before = try transmitted()
        send(LiveMTUNamespaceTests.frame(length: 1400), on: ring)
        ring.flush()
        send(LiveMTUNamespaceTests.frame(length: 100), on: ring)
        send(LiveMTUNamespaceTests.frame(length: 100), on: ring)
        XCTAssertTrue(ring.flush())
        XCTAssertEqual(try transmitted() - before, 3, "the oversize frame and the two after it")
        XCTAssertEqual(ring.rejectedFrames, 0)
    }

    func testOversizeFrameWithheld() throws {
        let drops = DropCounters()
        // The ring opens at MTU 1500, then the interface drops to 1300.
        let ring = try lab.inNamespace(lab.gateway1) {
            try TXRing(interface: InterfaceInfo.read("g1o"), drops: drops)
        }
        try lab.must(["ip", "-n", lab.gateway1, "link", "set", "g1o", "mtu", "1300"])
        ring.maximumFrameLength = Ethernet.headerSize + 1300
        let before = try transmitted()
        send(LiveMTUNamespaceTests.frame(length: 1400), on: ring)
        send(LiveMTUNamespaceTests.frame(length: Ethernet.headerSize + 1300), on: ring)
        XCTAssertTrue(ring.flush(), "send of a frame at the MTU failed")
        XCTAssertEqual(drops.value(.tooBig), 1)
        XCTAssertEqual(ring.sentFrames, 1)
        XCTAssertEqual(try transmitted() - before, 1)
    }
}
