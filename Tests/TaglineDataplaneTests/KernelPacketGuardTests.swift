import Foundation
import TaglineCore
import XCTest

@testable import TaglineDataplane

/// The tc filter keeps the kernel quiet. Without it, ESP and ESP-in-UDP sent to a gateway
/// make the kernel send ICMP errors. With it, the kernel sends nothing.
final class KernelPacketGuardTests: XCTestCase {
    private var lab: NamespaceLab!

    override func setUpWithError() throws {
        guard getuid() == 0 else {
            throw XCTSkip("creating network namespaces needs root; run the tests as root")
        }
        lab = NamespaceLab()
        try lab.create()
        for (namespace, address) in [
            (lab.gateway1, "2001:db8:100::1/64"),
            (lab.gateway2, "2001:db8:100::2/64"),
        ] {
            let link = namespace == lab.gateway1 ? "g1o" : "g2o"
            try lab.must(["ip", "-n", namespace, "address", "add", address, "dev", link, "nodad"])
        }
    }

    override func tearDown() {
        lab?.destroy()
    }

    /// From gw2 to gw1 over IPv4 and IPv6: ESP (protocol 50), and UDP to port 4500 that
    /// starts with an SPI rather than the zero non-ESP marker.
    static let sender = """
        import socket
        for family, address in [(socket.AF_INET, "198.51.100.1"),
                                (socket.AF_INET6, "2001:db8:100::1")]:
            esp = socket.socket(family, socket.SOCK_RAW, 50)
            udp = socket.socket(family, socket.SOCK_DGRAM)
            for i in range(3):
                esp.sendto(b"\\x00\\x00\\x10\\x00" + bytes(60), (address, 0))
                udp.sendto(b"\\x00\\x00\\x10\\x00" + bytes(60), (address, 4500))
        """

    /// ICMP errors gw1's kernel has sent: IPv4 Destination Unreachable, IPv6 Destination
    /// Unreachable and Parameter Problem.
    private func icmpErrorsSent() throws -> Int {
        var total = 0
        let snmp = try NamespaceLab.run([
            "ip", "netns", "exec", lab.gateway1, "cat",
            "/proc/net/snmp", "/proc/net/snmp6",
        ]).output
        let lines = snmp.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true)
        }
        for (index, line) in lines.enumerated() {
            if line.first == "Icmp:", index + 1 < lines.count, lines[index + 1].first == "Icmp:",
                let column = line.firstIndex(of: "OutDestUnreachs")
            {
                total += Int(lines[index + 1][column]) ?? 0
            }
            if line.count == 2, ["Icmp6OutDestUnreachs", "Icmp6OutParmProblems"].contains(line[0]) {
                total += Int(line[1]) ?? 0
            }
        }
        return total
    }

    private func send() throws {
        let result = try NamespaceLab.run(
            ["ip", "netns", "exec", lab.gateway2, "python3", "-c", KernelPacketGuardTests.sender])
        XCTAssertEqual(result.status, 0, result.output)
        usleep(200_000)
    }

    /// Sends an IKE-shaped datagram (zero non-ESP marker) to port 4500 of gw1.
    private func sendIKE() throws {
        let ike = try NamespaceLab.run([
            "ip", "netns", "exec", lab.gateway2, "python3", "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                + "s.sendto(bytes(32), ('198.51.100.1', 4500))",
        ])
        XCTAssertEqual(ike.status, 0, ike.output)
        usleep(200_000)
    }

    /// A start after a SIGKILL finds the clsact with the ESP filters. It keeps the qdisc and
    /// replaces the filters, so there are still two.
    func testStaleFilterReplacedInPlace() throws {
        let first = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.installESPDropFilter(interface: "g1o")
        }
        XCTAssertEqual(first.first, "tc qdisc add dev g1o clsact")
        let second = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.installESPDropFilter(interface: "g1o")
        }
        XCTAssertEqual(second.count, 2, "\(second)")
        XCTAssertFalse(second.contains("tc qdisc add dev g1o clsact"))
        let filters = try NamespaceLab.run([
            "tc", "-n", lab.gateway1, "filter", "show", "dev", "g1o", "ingress",
        ]).output
        XCTAssertEqual(filters.components(separatedBy: "direct-action").count - 1, 2, filters)

        // The replaced filters still drop ESP before the kernel's IP stack.
        let start = try icmpErrorsSent()
        try send()
        XCTAssertEqual(try icmpErrorsSent(), start, "ICMP errors sent with the filter on")
    }

    /// An operator's own filter on the clsact (here at priority 10, letting everything pass)
    /// survives a stop, and so does the qdisc that carries it. Once that filter is gone, a
    /// stop removes the qdisc too.
    func testStopKeepsOperatorFilters() throws {
        try lab.must(["tc", "-n", lab.gateway1, "qdisc", "add", "dev", "g1o", "clsact"])
        try lab.must([
            "tc", "-n", lab.gateway1, "filter", "add", "dev", "g1o", "ingress", "protocol", "all",
            "prio", "10", "bpf", "bytecode", "1,6 0 0 4294967295", "da",
        ])
        let installed = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.installESPDropFilter(interface: "g1o")
        }
        XCTAssertEqual(installed.count, 2, "the existing qdisc was added again: \(installed)")

        let removed = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.removeFilters(interface: "g1o")
        }
        XCTAssertEqual(removed.count, 2, "\(removed)")
        let filters = try showIngress()
        XCTAssertTrue(filters.contains("pref 10 bpf"), filters)
        XCTAssertFalse(filters.contains("pref 1 bpf"), filters)
        XCTAssertFalse(filters.contains("pref 2 bpf"), filters)
        XCTAssertTrue(try showQdiscs().contains("clsact"))

        try lab.must([
            "tc", "-n", lab.gateway1, "filter", "del", "dev", "g1o", "ingress", "prio", "10",
        ])
        _ = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.installESPDropFilter(interface: "g1o")
        }
        let last = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.removeFilters(interface: "g1o")
        }
        XCTAssertEqual(last.last, "tc qdisc del dev g1o clsact")
        XCTAssertFalse(try showQdiscs().contains("clsact"))

        // A second stop finds no qdisc, which is an error.
        XCTAssertThrowsError(
            try lab.inNamespace(lab.gateway1) {
                try KernelPacketGuard.removeFilters(interface: "g1o")
            })
    }

    /// An operator's filter at priority 1 or 2 stops the install with an error that names
    /// it, and one added there while the dataplane ran survives a stop.
    func testOperatorFilterAtOwnPriority() throws {
        func add(_ protocolName: String, _ priority: String, _ handle: String) throws {
            try lab.must([
                "tc", "-n", lab.gateway1, "filter", "add", "dev", "g1o", "ingress", "protocol",
                protocolName, "prio", priority, "handle", handle, "bpf", "bytecode",
                "1,6 0 0 4294967295", "da",
            ])
        }
        func delete(_ priority: String) throws {
            try lab.must([
                "tc", "-n", lab.gateway1, "filter", "del", "dev", "g1o", "ingress", "prio",
                priority,
            ])
        }
        func install() throws {
            _ = try lab.inNamespace(lab.gateway1) {
                try KernelPacketGuard.installESPDropFilter(interface: "g1o")
            }
        }
        try lab.must(["tc", "-n", lab.gateway1, "qdisc", "add", "dev", "g1o", "clsact"])

        for (protocolName, priority, handle) in [("ip", "1", "7"), ("ip", "2", "5")] {
            try add(protocolName, priority, handle)
            XCTAssertThrowsError(try install()) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("pref \(priority) bpf"), text)
                XCTAssertTrue(text.contains("move that filter to another priority"), text)
            }
            try delete(priority)
        }

        try install()
        try add("ip", "1", "7")
        _ = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.removeFilters(interface: "g1o")
        }
        let filters = try showIngress()
        XCTAssertTrue(filters.contains("handle 0x7"), filters)
        XCTAssertFalse(filters.contains("handle 0x1 "), filters)
        XCTAssertTrue(try showQdiscs().contains("clsact"))
    }

    private func showIngress() throws -> String {
        try NamespaceLab.run(["tc", "-n", lab.gateway1, "filter", "show", "dev", "g1o", "ingress"])
            .output
    }

    private func showQdiscs() throws -> String {
        try NamespaceLab.run(["tc", "-n", lab.gateway1, "qdisc", "show", "dev", "g1o"]).output
    }

    func testFilterSilencesKernel() throws {
        // The kernel limits ICMP errors to a burst of 6 per peer, so the filtered case runs
        // first and the unfiltered control last.
        let start = try icmpErrorsSent()
        _ = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.installESPDropFilter(interface: "g1o")
        }
        try send()
        XCTAssertEqual(try icmpErrorsSent(), start, "ICMP errors sent with the filter on")

        // IKE still reaches the kernel, which has no socket on 4500 and sends an error.
        try sendIKE()
        let afterIKE = try icmpErrorsSent()
        XCTAssertEqual(afterIKE, start + 1, "IKE on port 4500 did not reach the kernel")

        // Without the filter the same packets make the kernel send errors.
        _ = try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.removeFilters(interface: "g1o")
        }
        try send()
        XCTAssertGreaterThan(try icmpErrorsSent(), afterIKE, "no ICMP error without the filter")
    }
}
