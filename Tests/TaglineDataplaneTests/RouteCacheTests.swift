import TaglineCore
import XCTest

@testable import TaglineDataplane

final class RouteCacheTests: XCTestCase {
    func testHitMissAndNewTable() {
        let cache = RouteCache()
        let table = Lab.forwarding(gw1: true)
        let mac = MACAddress(0x0200_0000_0a99)
        XCTAssertNil(cache.lookup(Lab.hostA, forwarding: table))
        cache.store(Lab.hostA, nextHop: Lab.hostA, mac: mac)

        let hit = cache.lookup(Lab.hostA, forwarding: table)
        XCTAssertEqual(hit?.nextHop, Lab.hostA)
        XCTAssertEqual(hit?.mac, mac)
        XCTAssertNil(cache.lookup(Lab.hostA6, forwarding: table))
        XCTAssertNil(cache.lookup(IPAddress("192.0.2.3")!, forwarding: table))

        // A new table, even with equal contents, starts empty.
        XCTAssertNil(cache.lookup(Lab.hostA, forwarding: Lab.forwarding(gw1: true)))
    }

    /// Every address stored last in its slot is found, and no address comes back with
    /// another one's next hop.
    func testManyDestinations() {
        let cache = RouteCache()
        let table = Lab.forwarding(gw1: true)
        let addresses = (0..<1024).map { IPAddress.v4(0xC000_0200 &+ UInt32($0)) }
        for (index, address) in addresses.enumerated() {
            XCTAssertNil(cache.lookup(address, forwarding: table))
            cache.store(address, nextHop: address, mac: MACAddress(UInt64(index)))
        }
        var hits = 0
        for (index, address) in addresses.enumerated() {
            guard let hit = cache.lookup(address, forwarding: table) else { continue }
            hits += 1
            XCTAssertEqual(hit.nextHop, address)
            XCTAssertEqual(hit.mac, MACAddress(UInt64(index)))
        }
        XCTAssertGreaterThan(hits, RouteCache.entryCount / 2)
        XCTAssertLessThanOrEqual(hits, RouteCache.entryCount)
    }

    /// Inbound packets follow each newly published table: a changed neighbour address, then
    /// a table without the route.
    func testInboundFollowsNewTable() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        let inner = Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA)
        let insideWire = MemorySink()
        let expected = Lab.forwarded(inner, hops: 1)

        var frame = builder.frame(payload: inner, nextHeader: 4, sequence: 1)
        XCTAssertEqual(gw1.outside(frame, sink: insideWire), .forwarded(frames: 1))
        XCTAssertEqual(insideWire.frames.last.map { Array($0[0..<6]) }, Lab.hostAMAC.bytes)

        // Host A moved to another link-layer address.
        let current = gw1.context.forwardingTable.current
        let movedMAC = MACAddress(0x0200_0000_0a99)
        var neighbours = current.neighbours
        neighbours[NeighbourKey(interfaceIndex: current.inside.index, address: Lab.hostA)] =
            movedMAC
        gw1.context.forwardingTable.publish(
            ForwardingTable(
                inside: current.inside, outside: current.outside, routes: current.routes,
                neighbours: neighbours))
        frame = builder.frame(payload: inner, nextHeader: 4, sequence: 2)
        XCTAssertEqual(gw1.outside(frame, sink: insideWire), .forwarded(frames: 1))
        XCTAssertEqual(
            insideWire.frames.last,
            Lab.ethernet(
                destination: movedMAC, source: Lab.gw1InsideMAC, type: 0x0800, expected))

        // The inside prefix is gone: no route, even though the last packet went there.
        var routes = PrefixTable<Route>()
        routes.insert(
            IPPrefix("198.51.100.0/24")!,
            Route(interfaceIndex: current.outside.index, gateway: nil))
        gw1.context.forwardingTable.publish(
            ForwardingTable(
                inside: current.inside, outside: current.outside, routes: routes,
                neighbours: neighbours))
        frame = builder.frame(payload: inner, nextHeader: 4, sequence: 3)
        XCTAssertEqual(gw1.outside(frame, sink: insideWire), .dropped(.noRoute))
        XCTAssertEqual(insideWire.frames.count, 2)
    }
}
