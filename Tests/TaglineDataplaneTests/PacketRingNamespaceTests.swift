import Foundation
import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Two dataplanes (gw1 and gw2) on real AF_PACKET rings in network namespaces, with
/// hand-made SAs, carrying ping, UDP and TCP between host A and host B.
final class PacketRingNamespaceTests: XCTestCase {
    var lab: NamespaceLab!
    var gateways: [DataplaneController] = []

    override func setUpWithError() throws {
        guard getuid() == 0 else {
            throw XCTSkip("creating network namespaces needs root; run the tests as root")
        }
        lab = NamespaceLab()
        try lab.create()
    }

    override func tearDown() {
        for gateway in gateways { gateway.stopWorkers() }
        gateways.removeAll()
        lab?.destroy()
    }

    func testRingLayoutMatchesKernelHeaders() throws {
        XCTAssertNoThrow(try RingLayout.verify())
    }

    /// Starts both gateways with a tagging SA pair and SGT bindings for both hosts. Worker i
    /// of each gateway runs with `options[i]` when given.
    func startGateways(workers: Int = 1, options: [WorkerOptions] = []) throws
        -> (gw1: DataplaneController, gw2: DataplaneController)
    {
        try lab.inNamespace(lab.gateway1) {
            try KernelPacketGuard.disableForwarding()
            try KernelPacketGuard.installESPDropFilter(interface: "g1o")
        }
        try lab.inNamespace(lab.gateway2) {
            try KernelPacketGuard.disableForwarding()
            try KernelPacketGuard.installESPDropFilter(interface: "g2o")
        }

        // Rings in each gateway's namespace.
        let gw1 = try lab.inNamespace(lab.gateway1) {
            try DataplaneController(
                insideName: "g1i", outsideName: "g1o", workerCount: workers,
                workerOptions: options)
        }
        gateways.append(gw1)
        let gw2 = try lab.inNamespace(lab.gateway2) {
            try DataplaneController(
                insideName: "g2i", outsideName: "g2o", workerCount: workers,
                workerOptions: options)
        }
        gateways.append(gw2)

        // A tagging SA pair, leases and one binding per host.
        let pair = Lab.saPair(encryption: .aesGCM128, integrity: nil, tagging: true)
        XCTAssertTrue(gw1.installSAs([pair.gw1]).isEmpty)
        XCTAssertTrue(gw2.installSAs([pair.gw2]).isEmpty)
        gw1.grantLease(inboundSPI: Lab.spiAtGW1, SequenceLease(first: 1, count: 1 << 20))
        gw2.grantLease(inboundSPI: Lab.spiAtGW2, SequenceLease(first: 1, count: 1 << 20))
        gw1.installBindings([
            SGTBinding(
                prefix: IPPrefix("192.0.2.2/32")!, sgt: SGT(333)!,
                source: .config)
        ])
        gw2.installBindings([
            SGTBinding(
                prefix: IPPrefix("203.0.113.2/32")!, sgt: SGT(400)!,
                source: .config)
        ])

        for gateway in [gw1, gw2] {
            gateway.context.debugEnabled = true
            try gateway.startWorkers()
        }
        return (gw1, gw2)
    }

    /// Starts `arguments` with its output collected in a pipe.
    func launch(_ arguments: [String]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        return (process, output)
    }

    /// Does the control thread's periodic work for the gateways until `process` exits.
    func control(until process: Process, output: Pipe, gateways: [DataplaneController])
        throws -> (status: Int32, output: String)
    {
        var ticks = 0
        while process.isRunning {
            for gateway in gateways {
                gateway.drainLearnedNeighbours()
                if ticks % 10 == 0 { try gateway.refreshForwarding() }
                gateway.reclaim()
            }
            ticks += 1
            usleep(20_000)
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func runWhileControlling(_ arguments: [String], gateways: [DataplaneController])
        throws -> (status: Int32, output: String)
    {
        let (process, output) = try launch(arguments)
        return try control(until: process, output: output, gateways: gateways)
    }

    func testPingTaggedBothWays() throws {
        let (gw1, gw2) = try startGateways()
        let ping = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "ping", "-c", "6", "-i", "0.3", "-W", "2",
                "203.0.113.2",
            ], gateways: [gw1, gw2])
        XCTAssertEqual(ping.status, 0, "ping from host A to host B failed:\n\(ping.output)")

        let out = try XCTUnwrap(gw1.saState(inboundSPI: Lab.spiAtGW1)).counters.snapshot()
        let back = try XCTUnwrap(gw2.saState(inboundSPI: Lab.spiAtGW2)).counters.snapshot()
        XCTAssertGreaterThanOrEqual(out.tagged, 3, "gw1 tagged echo requests")
        XCTAssertGreaterThanOrEqual(back.untagged, 3, "gw2 extracted tags")
        XCTAssertGreaterThanOrEqual(back.tagged, 3, "gw2 tagged echo replies")
        XCTAssertGreaterThanOrEqual(out.untagged, 3, "gw1 extracted tags")
        XCTAssertEqual(out.notTagged, 0)
        XCTAssertEqual(back.verifyFailed, 0)

        // The kernels saw the ESP too but sent no ICMP Destination Unreachable.
        for gateway in [lab.gateway1, lab.gateway2] {
            XCTAssertEqual(try icmpOutDestinationUnreachable(namespace: gateway), 0, gateway)
        }

        var limiter = DebugRateLimiter()
        let gw2Lines = gw2.drainDebugLines(limiter: &limiter)
        XCTAssertTrue(
            gw2Lines.contains("IPsec SGT:: extracted SGT = 333 for src ip 192.0.2.2"),
            "\(gw2Lines)")
        XCTAssertTrue(
            gw2Lines.contains("IPsec SGT:: inserted SGT = 400 for src ip 203.0.113.2"),
            "\(gw2Lines)")
        let gw1Lines = gw1.drainDebugLines(limiter: &limiter)
        XCTAssertTrue(
            gw1Lines.contains("IPsec SGT:: extracted SGT = 400 for src ip 203.0.113.2"),
            "\(gw1Lines)")
    }

    /// A ring whose interface was deleted reports POLLERR (ENETDOWN) to poll() until the
    /// error is read. Reading it lets poll() sleep again, so a worker does not spin.
    func testDeletedInterfaceErrorCleared() throws {
        let ring = try lab.inNamespace(lab.gateway1) {
            try RXRing(interface: try InterfaceInfo.read("g1i"), fanoutGroup: nil)
        }
        func pollErrors() -> Int16 {
            var descriptor = pollfd(fd: ring.fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 0)
            return descriptor.revents & Int16(POLLERR)
        }
        XCTAssertEqual(pollErrors(), 0)

        try lab.must(["ip", "-n", lab.gateway1, "link", "delete", "g1i"])
        XCTAssertEqual(pollErrors(), Int16(POLLERR))
        XCTAssertEqual(pollErrors(), Int16(POLLERR), "the error cleared without being read")
        XCTAssertEqual(DataplaneWorker.takeSocketError(ring.fileDescriptor), ENETDOWN)
        XCTAssertEqual(pollErrors(), 0)
    }

    /// gw1's inside and outside links are deleted and created again, which also re-creates
    /// gw2's outside. The next kernel read finds the new interface indexes, and the rings,
    /// two workers per gateway in one fanout group, are reopened on them.
    func testRecreatedInterfacesReopened() throws {
        let (gw1, gw2) = try startGateways(workers: 2)
        let ping = [
            "ip", "netns", "exec", lab.hostA, "ping", "-c", "3", "-i", "0.3", "-W", "2",
            "203.0.113.2",
        ]
        XCTAssertEqual(try runWhileControlling(ping, gateways: [gw1, gw2]).status, 0)
        let packetsBefore = gw1.workerStatuses().map(\.packets).reduce(0, +)
        let insideIndex = gw1.inside.index

        try lab.must(["ip", "-n", lab.gateway1, "link", "delete", "g1i"])
        try lab.must(["ip", "-n", lab.gateway1, "link", "delete", "g1o"])
        try gw1.refreshForwarding()
        let whileGone = try lab.inNamespace(lab.gateway1) { try gw1.reopenRecreatedInterfaces() }
        XCTAssertEqual(whileGone, [.missing(name: "g1i"), .missing(name: "g1o")])

        try lab.createHostALink()
        try lab.createOutsideLink()

        for (gateway, namespace) in [(gw1, lab.gateway1), (gw2, lab.gateway2)] {
            try gateway.refreshForwarding()
            let events = try lab.inNamespace(namespace) {
                try gateway.reopenRecreatedInterfaces()
            }
            let names = events.compactMap { event -> String? in
                if case .reopened(let name, _, _) = event { return name }
                return nil
            }
            XCTAssertEqual(names, gateway === gw1 ? ["g1i", "g1o"] : ["g2o"], "\(events)")
        }
        XCTAssertNotEqual(gw1.inside.index, insideIndex)
        XCTAssertEqual(
            try lab.inNamespace(lab.gateway1) { try gw1.reopenRecreatedInterfaces() }, [],
            "a second read found more to reopen")

        let again = try runWhileControlling(ping, gateways: [gw1, gw2])
        XCTAssertEqual(again.status, 0, "no ping through the re-created links:\n\(again.output)")
        XCTAssertGreaterThan(
            gw1.workerStatuses().map(\.packets).reduce(0, +), packetsBefore,
            "the worker totals restarted from zero or did not grow")
    }

    func testMovedSAKeepsState() throws {
        // An IKE SA rekey moves the Child SA: only its IKE SA name changes, so
        // the counters, replay window and sequence numbers carry on.
        let (gw1, gw2) = try startGateways()
        let ping = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "ping", "-c", "3", "-i", "0.3", "-W", "2",
                "203.0.113.2",
            ], gateways: [gw1, gw2])
        XCTAssertEqual(ping.status, 0, "ping from host A to host B failed:\n\(ping.output)")
        let before = try XCTUnwrap(gw1.saState(inboundSPI: Lab.spiAtGW1))
        let sent = before.counters.snapshot().tagged
        XCTAssertGreaterThanOrEqual(sent, 3)

        var moved = Lab.saPair(encryption: .aesGCM128, integrity: nil, tagging: true).gw1
        moved.ikeSAName = "2122232425262728-3132333435363738"
        XCTAssertTrue(gw1.installSAs([moved]).isEmpty)
        let after = try XCTUnwrap(gw1.saState(inboundSPI: Lab.spiAtGW1))
        XCTAssertTrue(after === before, "a moved SA got a fresh state")
        XCTAssertEqual(after.counters.snapshot().tagged, sent)

        // New keys under the same SPI are a different SA.
        var rekeyed = moved
        rekeyed.outboundKeys = rekeyed.inboundKeys
        XCTAssertTrue(gw1.installSAs([rekeyed]).isEmpty)
        XCTAssertFalse(try XCTUnwrap(gw1.saState(inboundSPI: Lab.spiAtGW1)) === before)
    }

    func testFirstPingAnswered() throws {
        // A fresh lab: neither gateway has a neighbour entry and no warm-up ping ran, so the
        // first echo request waits at gw1 for gw2's address and at gw2 for host B's.
        let (gw1, gw2) = try startGateways()
        let ping = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "ping", "-c", "5", "-i", "0.3", "-W", "2",
                "203.0.113.2",
            ], gateways: [gw1, gw2])
        XCTAssertEqual(ping.status, 0, "ping from host A to host B failed:\n\(ping.output)")
        XCTAssertTrue(
            ping.output.contains("5 packets transmitted, 5 received"),
            "not every echo request was answered:\n\(ping.output)")
        XCTAssertTrue(ping.output.contains("icmp_seq=1 "), "first echo reply:\n\(ping.output)")
        for gateway in [gw1, gw2] {
            let drops = gateway.context.dropTotals()
            XCTAssertNil(drops["unresolvedQueueFull"], "\(drops)")
            XCTAssertNil(drops["unresolvedTimeout"], "\(drops)")
        }
    }

    func testPingWithTwoWorkersPerGateway() throws {
        let (gw1, gw2) = try startGateways(workers: 2)
        let ping = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "ping", "-c", "6", "-i", "0.3", "-W", "2",
                "203.0.113.2",
            ], gateways: [gw1, gw2])
        XCTAssertEqual(ping.status, 0, "ping from host A to host B failed:\n\(ping.output)")
        let out = try XCTUnwrap(gw1.saState(inboundSPI: Lab.spiAtGW1)).counters.snapshot()
        XCTAssertGreaterThanOrEqual(out.tagged, 3)
        XCTAssertGreaterThanOrEqual(out.untagged, 3)
        XCTAssertEqual(gw1.workerStatuses().count, 2)
    }

    func testUDPAndTCPThroughTunnel() throws {
        let (gw1, gw2) = try startGateways()
        // Warm up ARP and neighbour learning in both directions.
        _ = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "ping", "-c", "3", "-i", "0.2", "-W", "1",
                "203.0.113.2",
            ], gateways: [gw1, gw2])

        // 4 MiB of TCP with the veth default offloads (checksum offload, TSO/GSO) still on.
        let (tcpServer, tcpServerOutput) = try launch(
            ["ip", "netns", "exec", lab.hostB, "python3", "-c", PacketRingNamespaceTests.tcpSink])
        usleep(300_000)
        let tcpClient = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "python3", "-c",
                PacketRingNamespaceTests.tcpSource,
            ],
            gateways: [gw1, gw2])
        XCTAssertEqual(tcpClient.status, 0, "TCP client failed:\n\(tcpClient.output)")
        let tcpReceived = try control(
            until: tcpServer, output: tcpServerOutput,
            gateways: [gw1, gw2])
        XCTAssertEqual(
            tcpReceived.output.trimmingCharacters(in: .whitespacesAndNewlines),
            String(PacketRingNamespaceTests.tcpBytes), "bytes host B received over TCP")

        // UDP datagrams, whose checksums the sender leaves to the device: host B's kernel
        // drops any datagram whose checksum the dataplane did not complete.
        let (receiver, receiverOutput) = try launch(
            [
                "ip", "netns", "exec", lab.hostB, "python3", "-c",
                PacketRingNamespaceTests.udpReceiver,
            ])
        usleep(300_000)
        let sender = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "python3", "-c",
                PacketRingNamespaceTests.udpSender,
            ],
            gateways: [gw1, gw2])
        XCTAssertEqual(sender.status, 0, sender.output)
        let received = try control(until: receiver, output: receiverOutput, gateways: [gw1, gw2])
        XCTAssertEqual(
            received.output.trimmingCharacters(in: .whitespacesAndNewlines), "20",
            "datagrams host B received")

        let out = try XCTUnwrap(gw1.saState(inboundSPI: Lab.spiAtGW1)).counters.snapshot()
        XCTAssertGreaterThan(out.tagged, 2000, "4 MiB of TCP went out tagged")
        XCTAssertGreaterThan(out.bytesOut, UInt64(PacketRingNamespaceTests.tcpBytes))
        XCTAssertEqual(gw1.context.dropTotals()["unsupportedOffload"], nil)
    }

    /// Icmp OutDestUnreachs of /proc/net/snmp in `namespace`.
    private func icmpOutDestinationUnreachable(namespace: String) throws -> Int {
        let snmp = try NamespaceLab.run(["ip", "netns", "exec", namespace, "cat", "/proc/net/snmp"])
        let lines = snmp.output.split(separator: "\n").filter { $0.hasPrefix("Icmp:") }
        guard lines.count >= 2 else { return -1 }
        let names = lines[0].split(separator: " ")
        let values = lines[1].split(separator: " ")
        guard let index = names.firstIndex(of: "OutDestUnreachs"), index < values.count else {
            return -1
        }
        return Int(values[index]) ?? -1
    }

    static let tcpBytes = 4 << 20

    /// Accepts one connection on 203.0.113.2:9000 and prints the bytes read until EOF.
    static let tcpSink = """
        import socket
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("203.0.113.2", 9000))
        s.listen(1)
        s.settimeout(10)
        c, _ = s.accept()
        c.settimeout(10)
        total = 0
        while True:
            data = c.recv(65536)
            if not data:
                break
            total += len(data)
        print(total)
        """

    /// Sends 4 MiB to host B and closes.
    static let tcpSource = """
        import socket
        c = socket.create_connection(("203.0.113.2", 9000), timeout=10)
        c.sendall(bytes(range(256)) * (\(tcpBytes) // 256))
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()
        """

    /// Counts datagrams on 203.0.113.2:9999 until 20 arrived or 3 s passed without one.
    static let udpReceiver = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("203.0.113.2", 9999))
        s.settimeout(3)
        n = 0
        try:
            while n < 20:
                s.recvfrom(4096)
                n += 1
        except socket.timeout:
            pass
        print(n)
        """

    /// Sends 20 datagrams of 1000 bytes from host A to host B.
    static let udpSender = """
        import socket, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(20):
            s.sendto(bytes([i]) * 1000, ("203.0.113.2", 9999))
            time.sleep(0.02)
        """
}
