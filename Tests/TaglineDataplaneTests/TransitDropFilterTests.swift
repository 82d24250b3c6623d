import Foundation
import TaglineCore
import XCTest

@testable import TaglineDataplane

/// The transit drop filter's programs, run by a small classic BPF interpreter over built
/// frames, and the filter itself on a veth in a namespace lab.
final class TransitDropFilterTests: XCTestCase {
    typealias Filter = TransitDropFilter

    // MARK: Programs

    /// Runs `code` on `frame` as the kernel would for the opcodes the filter uses. A load
    /// past the end of the frame ends the program with 0, as in the kernel.
    private func run(_ code: [Filter.Instruction], on frame: [UInt8]) -> UInt32 {
        var accumulator: UInt32 = 0
        var index = 0
        while index < code.count {
            let instruction = code[index]
            index += 1
            let offset = Int(instruction.k)
            switch instruction.code {
            case Filter.loadWord:
                guard offset + 4 <= frame.count else { return 0 }
                accumulator = frame[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
            case Filter.loadByte:
                guard offset < frame.count else { return 0 }
                accumulator = UInt32(frame[offset])
            case Filter.andConstant:
                accumulator &= instruction.k
            case Filter.jumpEqual:
                let matched = accumulator == instruction.k
                index += Int(matched ? instruction.jumpTrue : instruction.jumpFalse)
            case Filter.jumpAtLeast:
                let atLeast = accumulator >= instruction.k
                index += Int(atLeast ? instruction.jumpTrue : instruction.jumpFalse)
            case Filter.returnConstant:
                return instruction.k
            default:
                XCTFail("opcode \(instruction.code) at \(index - 1) is not one the filter uses")
                return 0
            }
        }
        XCTFail("the program ran past its end")
        return 0
    }

    /// Builds an Ethernet frame with an IPv4 or IPv6 header to `destination` and 8 bytes more.
    private func frame(to destination: String) -> [UInt8] {
        let address = IPAddress(destination)!
        var bytes = [UInt8](repeating: 0, count: 12)
        switch address {
        case .v4(let value):
            bytes += [0x08, 0x00, 0x45] + [UInt8](repeating: 0, count: 15)
            bytes += withUnsafeBytes(of: value.bigEndian, Array.init)
        case .v6(let high, let low):
            bytes += [0x86, 0xDD, 0x60] + [UInt8](repeating: 0, count: 23)
            bytes += withUnsafeBytes(of: high.bigEndian, Array.init)
            bytes += withUnsafeBytes(of: low.bigEndian, Array.init)
        }
        return bytes + [UInt8](repeating: 0, count: 8)
    }

    /// Checks what the kernel's verifier checks that matters here: the program ends with a
    /// return and every jump lands inside it.
    private func assertWellFormed(
        _ code: [Filter.Instruction], file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertEqual(code.last?.code, Filter.returnConstant, file: file, line: line)
        for (index, instruction) in code.enumerated()
        where [Filter.jumpEqual, Filter.jumpAtLeast].contains(instruction.code) {
            let farthest = index + 1 + Int(max(instruction.jumpTrue, instruction.jumpFalse))
            XCTAssertLessThan(farthest, code.count, "jump at \(index)", file: file, line: line)
        }
    }

    private let localIPv4 = ["192.0.2.1/32", "192.0.2.255/32", "198.51.100.1/32", "127.0.0.0/8"]
        .map { IPPrefix($0)! }
    private let localIPv6 = ["2001:db8:1::1/128", "fe80::1/128", "::1/128", "2001:db8:9::/48"]
        .map { IPPrefix($0)! }

    func testIPv4ProgramCases() {
        let code = Filter.instructions(.ipv4, localPrefixes: localIPv4)
        assertWellFormed(code)
        let expected: [(String, UInt32)] = [
            ("192.0.2.1", Filter.pass),  // the inside address
            ("198.51.100.1", Filter.pass),  // the outside address, reached from the inside
            ("192.0.2.255", Filter.pass),  // the subnet broadcast
            ("127.0.0.1", Filter.pass), ("127.200.0.9", Filter.pass),  // a local prefix
            ("224.0.0.5", Filter.pass), ("239.255.255.250", Filter.pass),  // multicast
            ("255.255.255.255", Filter.pass),  // the limited broadcast
            ("203.0.113.2", Filter.drop), ("192.0.2.2", Filter.drop), ("198.51.100.2", Filter.drop),
            ("192.0.2.0", Filter.drop), ("128.0.0.1", Filter.drop), ("0.0.0.0", Filter.drop),
            ("223.255.255.255", Filter.drop),
        ]
        for (destination, action) in expected {
            XCTAssertEqual(run(code, on: frame(to: destination)), action, destination)
        }
    }

    func testIPv6ProgramCases() {
        let code = Filter.instructions(.ipv6, localPrefixes: localIPv6)
        assertWellFormed(code)
        let expected: [(String, UInt32)] = [
            ("2001:db8:1::1", Filter.pass), ("fe80::1", Filter.pass), ("::1", Filter.pass),
            ("2001:db8:9::1", Filter.pass), ("2001:db8:9:ffff::7", Filter.pass),  // in the /48
            ("ff02::1", Filter.pass), ("ff02::1:ff00:1", Filter.pass), ("ff05::2", Filter.pass),
            ("2001:db8:1::2", Filter.drop), ("fe80::2", Filter.drop),
            ("2001:db8:a::1", Filter.drop),
            ("2001:db8:8:ffff::1", Filter.drop), ("fe00::1", Filter.drop), ("::", Filter.drop),
        ]
        for (destination, action) in expected {
            XCTAssertEqual(run(code, on: frame(to: destination)), action, destination)
        }
    }

    func testEmptyLocalTable() {
        let ipv4 = Filter.instructions(.ipv4, localPrefixes: [])
        XCTAssertEqual(run(ipv4, on: frame(to: "192.0.2.1")), Filter.drop)
        XCTAssertEqual(run(ipv4, on: frame(to: "224.0.0.1")), Filter.pass)
        let ipv6 = Filter.instructions(.ipv6, localPrefixes: [])
        XCTAssertEqual(run(ipv6, on: frame(to: "2001:db8::1")), Filter.drop)
        XCTAssertEqual(run(ipv6, on: frame(to: "ff02::2")), Filter.pass)
    }

    func testDefaultPrefixPasses() {
        let code = Filter.instructions(.ipv4, localPrefixes: [IPPrefix("0.0.0.0/0")!])
        XCTAssertEqual(run(code, on: frame(to: "203.0.113.9")), Filter.pass)
    }

    /// A frame too short to hold the destination ends the program with 0 (TC_ACT_OK), so
    /// the kernel gets it and drops it as malformed itself.
    func testTruncatedFramePasses() {
        let code = Filter.instructions(.ipv4, localPrefixes: localIPv4)
        XCTAssertEqual(run(code, on: Array(frame(to: "203.0.113.2").prefix(32))), 0)
        let code6 = Filter.instructions(.ipv6, localPrefixes: localIPv6)
        XCTAssertEqual(run(code6, on: Array(frame(to: "2001:db8:a::1").prefix(40))), 0)
    }

    func testProgramTextAndLimit() throws {
        let text = try XCTUnwrap(Filter.program(.ipv4, localPrefixes: localIPv4))
        let parts = text.split(separator: ",")
        XCTAssertEqual(Int(parts[0]), parts.count - 1)
        XCTAssertEqual(parts[1], "32 0 0 30")  // ld [30]: the IPv4 destination
        XCTAssertEqual(parts.last, "6 0 0 2")  // ret #TC_ACT_SHOT

        // Each IPv4 host address costs three instructions and each IPv6 /128 nine, plus
        // the four of the multicast test and the final drop. tc takes 2000 of them.
        let hosts = (0..<665).map { IPPrefix(host: .v4(0xC000_0200 + UInt32($0))) }
        XCTAssertEqual(Filter.instructions(.ipv4, localPrefixes: hosts).count, 1999)
        XCTAssertNotNil(Filter.program(.ipv4, localPrefixes: hosts))
        XCTAssertNil(Filter.program(.ipv4, localPrefixes: hosts + [IPPrefix("192.0.2.1/32")!]))
        let hosts6 = (0..<221).map { IPPrefix(host: .v6(0x2001_0db8_0000_0000, UInt64($0))) }
        let code6 = Filter.instructions(.ipv6, localPrefixes: hosts6)
        XCTAssertEqual(code6.count, 1993)
        assertWellFormed(code6)
        XCTAssertNotNil(Filter.program(.ipv6, localPrefixes: hosts6))
        XCTAssertEqual(run(code6, on: frame(to: "2001:db8::dc")), Filter.pass)
        XCTAssertEqual(run(code6, on: frame(to: "2001:db8::dd")), Filter.drop)
        let more6 = hosts6 + [IPPrefix("2001:db8:1::1/128")!]
        XCTAssertNil(Filter.program(.ipv6, localPrefixes: more6))
    }

    /// A local, broadcast or anycast route counts in any table: a VRF or a policy rule can
    /// deliver to this host through a table other than the local table.
    func testLocalRouteOfAnyTable() {
        // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags (4).
        func message(table: UInt8, type: UInt8) -> [UInt8] {
            var bytes: [UInt8] = [2, 24, 0, 0, table, 2, 254, type, 0, 0, 0, 0]
            bytes += [8, 0, 1, 0, 203, 0, 113, 0]  // RTA_DST 203.0.113.0
            bytes += [8, 0, 15, 0, table, 0, 0, 0]  // RTA_TABLE
            return bytes
        }
        let local: UInt8 = 2  // RTN_LOCAL
        let unicast: UInt8 = 1  // RTN_UNICAST
        let expected = IPPrefix("203.0.113.0/24")!
        for table: UInt8 in [255, 100, 254] {
            let parsed = message(table: table, type: local).withUnsafeBytes {
                RouteNetlink.parseLocalRoute($0)
            }
            XCTAssertEqual(parsed, expected, "local route in table \(table)")
        }
        let parsed = message(table: 255, type: unicast).withUnsafeBytes {
            RouteNetlink.parseLocalRoute($0)
        }
        XCTAssertNil(parsed)
    }

    // MARK: Kernel

    private var lab: NamespaceLab?

    override func tearDown() {
        lab?.destroy()
    }

    /// Counters of `namespace`: the clsact drops on `link`, and the kernel's IPv4 and IPv6
    /// input address errors (what it counts for a transit packet with forwarding off).
    private func counters(_ namespace: String, link: String) throws -> (
        drops: Int, addressErrors: Int
    ) {
        let qdisc = try NamespaceLab.run([
            "tc", "-n", namespace, "-s", "qdisc", "show", "dev", link,
        ])
        var drops = 0
        if let range = qdisc.output.range(of: "clsact") {
            let after = qdisc.output[range.upperBound...]
            if let dropped = after.range(of: "dropped ") {
                drops = Int(after[dropped.upperBound...].prefix { $0.isNumber }) ?? 0
            }
        }
        let snmp = try NamespaceLab.run([
            "ip", "netns", "exec", namespace, "cat", "/proc/net/snmp", "/proc/net/snmp6",
        ]).output
        var errors = 0
        let lines = snmp.split(separator: "\n").map {
            $0.split(whereSeparator: { $0 == " " || $0 == "\t" })
        }
        for (index, line) in lines.enumerated() {
            if line.first == "Ip:", index + 1 < lines.count, lines[index + 1].first == "Ip:",
                let column = line.firstIndex(of: "InAddrErrors")
            {
                errors += Int(lines[index + 1][column]) ?? 0
            }
            if line.count == 2, ["Ip6InAddrErrors", "Ip6InNoRoutes"].contains(line[0]) {
                errors += Int(line[1]) ?? 0
            }
        }
        return (drops, errors)
    }

    /// Creates the namespace lab with forwarding off in gw1. Skips the test unless it runs
    /// as root.
    private func makeLab() throws -> NamespaceLab {
        guard getuid() == 0 else {
            throw XCTSkip("creating network namespaces needs root; run the tests as root")
        }
        let lab = NamespaceLab()
        self.lab = lab
        try lab.create()
        try lab.inNamespace(lab.gateway1) { try KernelPacketGuard.disableForwarding() }
        return lab
    }

    /// Reads gw1's local destinations from the kernel.
    private func localPrefixes(_ lab: NamespaceLab) throws -> Set<IPPrefix> {
        try lab.inNamespace(lab.gateway1) { try RouteNetlink().snapshot().localPrefixes }
    }

    /// Sends 5 UDP datagrams from host A to each of `destinations`.
    private func sendFromHostA(_ lab: NamespaceLab, to destinations: [String]) throws {
        let script = """
            import socket, time
            for address in "\(destinations.joined(separator: " "))".split():
                family = socket.AF_INET6 if ':' in address else socket.AF_INET
                s = socket.socket(family, socket.SOCK_DGRAM)
                for i in range(5):
                    s.sendto(bytes(32), (address, 9))
                    time.sleep(0.01)
            """
        let result = try NamespaceLab.run([
            "ip", "netns", "exec", lab.hostA, "python3", "-c", script,
        ])
        XCTAssertEqual(result.status, 0, result.output)
        usleep(300_000)
    }

    private func ping(_ lab: NamespaceLab, _ address: String) throws -> Bool {
        try NamespaceLab.run([
            "ip", "netns", "exec", lab.hostA, "ping", "-c", "1", "-W", "2", address,
        ]).status == 0
    }

    func testKernelSkipsTransitPackets() throws {
        let lab = try makeLab()
        for (namespace, link, address) in [
            (lab.hostA, "a0", "2001:db8:1::2/64"), (lab.gateway1, "g1i", "2001:db8:1::1/64"),
        ] {
            try lab.must(["ip", "-n", namespace, "address", "add", address, "dev", link, "nodad"])
        }
        try lab.must([
            "ip", "-n", lab.hostA, "-6", "route", "add", "default", "via", "2001:db8:1::1",
        ])

        let local = try localPrefixes(lab)
        for expected in [
            "192.0.2.1/32", "192.0.2.255/32", "198.51.100.1/32", "127.0.0.0/8",
            "2001:db8:1::1/128", "::1/128",
        ] {
            XCTAssertTrue(local.contains(IPPrefix(expected)!), "local table lacks \(expected)")
        }
        XCTAssertFalse(local.contains(IPPrefix("192.0.2.2/32")!))

        // Host A resolves gw1 first, so no datagram waits for ARP or ND below.
        for address in ["192.0.2.1", "2001:db8:1::1"] {
            XCTAssertTrue(try ping(lab, address), "no answer from \(address) before the filter")
        }

        // Control: without the filter the kernel routes each transit packet and counts it.
        let transit = ["203.0.113.2", "2001:db8:2::5"]
        let start = try counters(lab.gateway1, link: "g1i")
        try sendFromHostA(lab, to: transit)
        let unfiltered = try counters(lab.gateway1, link: "g1i")
        XCTAssertEqual(unfiltered.addressErrors - start.addressErrors, 10)

        let filter = TransitDropFilter(interface: "g1i")
        try lab.inNamespace(lab.gateway1) { _ = try filter.install(localPrefixes: local) }
        XCTAssertEqual(filter.installedPrefixes, local)
        try sendFromHostA(lab, to: transit)
        let filtered = try counters(lab.gateway1, link: "g1i")
        XCTAssertEqual(filtered.drops, 10, "transit packets dropped at tc ingress")
        XCTAssertEqual(filtered.addressErrors, unfiltered.addressErrors, "the kernel routed them")

        // The gateway's own addresses on either interface still reply to ping, over ARP and ND.
        for address in ["192.0.2.1", "198.51.100.1", "2001:db8:1::1"] {
            XCTAssertTrue(try ping(lab, address), "no answer from \(address)")
        }

        // A new address passes once the filter has the local table that lists it.
        try lab.must(["ip", "-n", lab.gateway1, "address", "add", "192.0.2.77/24", "dev", "g1i"])
        let grown = try localPrefixes(lab)
        XCTAssertEqual(
            try lab.inNamespace(lab.gateway1) { try filter.update(localPrefixes: local) }, [])
        let commands = try lab.inNamespace(lab.gateway1) { try filter.update(localPrefixes: grown) }
        XCTAssertEqual(commands.count, 2)
        XCTAssertTrue(try ping(lab, "192.0.2.77"), "no answer from the added address")

        _ = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.removeFilters(interface: "g1i")
        }
        try sendFromHostA(lab, to: transit)
        XCTAssertEqual(
            try counters(lab.gateway1, link: "g1i").addressErrors - filtered.addressErrors, 10,
            "the kernel did not get transit packets back once the filter was removed")
    }

    /// Returns the ingress filters on `link` as `tc filter show` prints them.
    private func ingressFilters(_ namespace: String, link: String) throws -> String {
        try NamespaceLab.run([
            "tc", "-n", namespace, "filter", "show", "dev", link, "ingress",
        ]).output
    }

    /// More local destinations than tc takes in one program: the family is left without a
    /// filter, with a line that reports it. It never keeps a program that lost its
    /// direct-action flag (tc drops the flag silently at 2040 instructions) or an old
    /// program that drops packets to the new addresses.
    func testManyLocalAddressesUnfiltered() throws {
        let lab = try makeLab()
        let local = try localPrefixes(lab)
        let filter = TransitDropFilter(interface: "g1i")
        try lab.inNamespace(lab.gateway1) { _ = try filter.install(localPrefixes: local) }
        XCTAssertTrue(try ping(lab, "192.0.2.1"))

        // 679 hosts alone give 2041 instructions, where tc drops `da`, and 700 give 2104,
        // where tc fails. They come from the three IPv4 documentation ranges, and no
        // packet is sent to them.
        let documentation: [UInt32] = [0xC000_0200, 0xC633_6400, 0xCB00_7100]
        for count in [679, 700] {
            try lab.must([
                "ip", "-n", lab.gateway1, "address", "add", "192.0.2.\(count % 200 + 20)/24",
                "dev", "g1i",
            ])
            let grown = try localPrefixes(lab)
            let hosts = documentation.flatMap { base in
                (0..<256).map { IPPrefix(host: .v4(base + UInt32($0))) }
            }
            let many = grown.union(hosts.filter { !grown.contains($0) }.prefix(count))
            let lines = try lab.inNamespace(lab.gateway1) { try filter.update(localPrefixes: many) }
            XCTAssertTrue(
                lines.contains { $0.hasPrefix("no ip transit filter on g1i") }, "\(lines)")
            let filters = try ingressFilters(lab.gateway1, link: "g1i")
            XCTAssertFalse(filters.contains("protocol ip "), filters)
            XCTAssertTrue(filters.contains("protocol ipv6"), filters)
            XCTAssertTrue(
                try ping(lab, "192.0.2.\(count % 200 + 20)"), "the added address with \(count)")
        }
    }

    /// A `local` route in another table, reached through a policy rule, is a destination of
    /// this host, and the filter passes packets to it. The addresses of an inside interface
    /// in a VRF are the same case: their local routes are in the VRF's table.
    func testLocalRouteOtherTablePasses() throws {
        let lab = try makeLab()
        try lab.must([
            "ip", "-n", lab.gateway1, "route", "add", "local", "203.0.113.64/26", "dev", "lo",
            "table", "100",
        ])
        try lab.must([
            "ip", "-n", lab.gateway1, "rule", "add", "to", "203.0.113.64/26", "lookup", "100",
            "pref", "100",
        ])
        let local = try localPrefixes(lab)
        XCTAssertTrue(local.contains(IPPrefix("203.0.113.64/26")!))
        XCTAssertTrue(try ping(lab, "192.0.2.1"))
        let filter = TransitDropFilter(interface: "g1i")
        try lab.inNamespace(lab.gateway1) { _ = try filter.install(localPrefixes: local) }
        try sendFromHostA(lab, to: ["203.0.113.70"])
        XCTAssertEqual(try counters(lab.gateway1, link: "g1i").drops, 0, "a local destination")
        try sendFromHostA(lab, to: ["203.0.113.2"])
        XCTAssertEqual(try counters(lab.gateway1, link: "g1i").drops, 5, "a transit destination")
    }

    /// The inside interface removed and created again: the update fails while it is gone,
    /// then adds the clsact qdisc and the programs to the new interface, even when the IPv4
    /// local destinations end up as they were.
    func testInterfaceRecreatedGetsFilter() throws {
        let lab = try makeLab()
        let local = try localPrefixes(lab)
        let filter = TransitDropFilter(interface: "g1i")
        try lab.inNamespace(lab.gateway1) { _ = try filter.install(localPrefixes: local) }

        try lab.must(["ip", "-n", lab.gateway1, "link", "delete", "g1i"])
        let without = try localPrefixes(lab)
        XCTAssertThrowsError(
            try lab.inNamespace(lab.gateway1) { try filter.update(localPrefixes: without) })
        XCTAssertNil(filter.installedPrefixes)

        try lab.createHostALink()
        let again = try localPrefixes(lab).filter { $0.address.isIPv4 }
        XCTAssertEqual(again, local.filter { $0.address.isIPv4 })
        let lines = try lab.inNamespace(lab.gateway1) {
            try filter.update(localPrefixes: again)
        }
        XCTAssertEqual(lines.first, "tc qdisc add dev g1i clsact")
        XCTAssertEqual(filter.installedPrefixes, again)
        let filters = try ingressFilters(lab.gateway1, link: "g1i")
        XCTAssertTrue(filters.contains("protocol ip "), filters)
        XCTAssertTrue(filters.contains("direct-action"), filters)
        XCTAssertTrue(try ping(lab, "192.0.2.1"))
        try sendFromHostA(lab, to: ["203.0.113.2"])
        XCTAssertEqual(try counters(lab.gateway1, link: "g1i").drops, 5)
    }

    /// The interface deleted and created again with the same addresses between two updates:
    /// the prefixes do not change, and `interfaceRecreated` makes the update install anyway.
    func testRecreatedWithSamePrefixes() throws {
        let lab = try makeLab()
        let local = try localPrefixes(lab)
        let filter = TransitDropFilter(interface: "g1i")
        try lab.inNamespace(lab.gateway1) { _ = try filter.install(localPrefixes: local) }

        try lab.must(["ip", "-n", lab.gateway1, "link", "delete", "g1i"])
        try lab.createHostALink()
        let same = try lab.inNamespace(lab.gateway1) { try filter.update(localPrefixes: local) }
        XCTAssertEqual(same, [], "an update for unchanged prefixes ran commands")
        XCTAssertFalse(try ingressFilters(lab.gateway1, link: "g1i").contains("direct-action"))

        filter.interfaceRecreated()
        let lines = try lab.inNamespace(lab.gateway1) { try filter.update(localPrefixes: local) }
        XCTAssertEqual(lines.first, "tc qdisc add dev g1i clsact")
        XCTAssertTrue(try ingressFilters(lab.gateway1, link: "g1i").contains("direct-action"))
    }

    /// A start after a SIGKILL finds the old clsact with its programs. It keeps the qdisc,
    /// because deleting and adding it loses packets, and replaces the programs without
    /// doubling them.
    func testStaleFilterReplacedInPlace() throws {
        let lab = try makeLab()
        let local = try localPrefixes(lab)
        let stale = TransitDropFilter(interface: "g1i")
        try lab.inNamespace(lab.gateway1) {
            _ = try stale.install(localPrefixes: local.filter { $0 != IPPrefix("192.0.2.1/32")! })
        }
        XCTAssertFalse(try ping(lab, "192.0.2.1"), "the stale program passes 192.0.2.1")

        let fresh = TransitDropFilter(interface: "g1i")
        let commands = try lab.inNamespace(lab.gateway1) {
            try fresh.install(localPrefixes: local)
        }
        XCTAssertFalse(commands.contains("tc qdisc add dev g1i clsact"), "\(commands)")
        XCTAssertEqual(commands.count, 2)
        let filters = try ingressFilters(lab.gateway1, link: "g1i")
        XCTAssertEqual(filters.components(separatedBy: "direct-action").count - 1, 2, filters)
        XCTAssertTrue(try ping(lab, "192.0.2.1"))
    }
}
