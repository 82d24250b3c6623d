import CTaglineShim
import Foundation
import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Worker pinning and UDP segmentation offload on the real rings of the namespace lab.
extension PacketRingNamespaceTests {
    /// Frames all workers of `gateway` handled so far.
    private func framesHandled(_ gateway: DataplaneController) -> UInt64 {
        gateway.workerStatuses().reduce(0) { $0 + $1.packets }
    }

    /// Thread counts of this process per allowed CPU list, such as ["0": 2, "0-1": 9].
    private func threadsPerCPUList() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        for task in tasks {
            guard let status = try? String(contentsOfFile: "/proc/self/task/\(task)/status")
            else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
                let list = line.split(separator: "\t").last.map(String.init) ?? ""
                counts[list.trimmingCharacters(in: .whitespaces), default: 0] += 1
            }
        }
        return counts
    }

    func testUDPSegmentOffloadThroughRings() throws {
        let (gw1, gw2) = try startGateways()
        _ = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "ping", "-c", "3", "-i", "0.2", "-W", "1",
                "203.0.113.2",
            ], gateways: [gw1, gw2])

        let (receiver, receiverOutput) = try launch(
            [
                "ip", "netns", "exec", lab.hostB, "python3", "-c",
                PacketRingNamespaceTests.segmentReceiver,
            ])
        usleep(300_000)
        let framesBefore = framesHandled(gw1)
        let sender = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "python3", "-c",
                PacketRingNamespaceTests.segmentSender,
            ], gateways: [gw1, gw2])
        XCTAssertEqual(sender.status, 0, sender.output)
        let received = try control(until: receiver, output: receiverOutput, gateways: [gw1, gw2])
        XCTAssertEqual(
            received.output.trimmingCharacters(in: .whitespacesAndNewlines), "20 datagrams of 1000",
            "datagrams host B received")

        // Four sends of five segments each reach gw1 as four GSO frames (plus any ARP), not 20.
        let frames = framesHandled(gw1) - framesBefore
        XCTAssertLessThan(frames, 12, "gw1 got the sends as GSO frames")
        XCTAssertNil(gw1.context.dropTotals()["unsupportedOffload"])
        let out = try XCTUnwrap(gw1.saState(inboundSPI: Lab.spiAtGW1)).counters.snapshot()
        XCTAssertGreaterThanOrEqual(out.tagged, 20)
    }

    func testPinnedWorkersShareFlows() throws {
        guard tagline_cpu_allowed(0) == 1, tagline_cpu_allowed(1) == 1 else {
            throw XCTSkip("pinning two workers needs CPUs 0 and 1 in the allowed set")
        }
        let options = [WorkerOptions(cpu: 0, idleMicroseconds: 50), WorkerOptions(cpu: 1)]
        let (gw1, gw2) = try startGateways(workers: 2, options: options)

        // One worker of each gateway per CPU: two threads allowed only CPU 0, two only CPU 1.
        let pinned = try threadsPerCPUList()
        XCTAssertEqual(pinned["0"], 2, "\(pinned)")
        XCTAssertEqual(pinned["1"], 2, "\(pinned)")

        let ping = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "ping", "-c", "3", "-i", "0.2", "-W", "1",
                "203.0.113.2",
            ], gateways: [gw1, gw2])
        XCTAssertEqual(ping.status, 0, "ping from host A to host B failed:\n\(ping.output)")
        let flows = try runWhileControlling(
            [
                "ip", "netns", "exec", lab.hostA, "python3", "-c",
                PacketRingNamespaceTests.flowSender,
            ], gateways: [gw1, gw2])
        XCTAssertEqual(flows.status, 0, flows.output)

        let statuses = gw1.workerStatuses()
        XCTAssertEqual(statuses.map(\.cpu), [0, 1])
        for status in statuses {
            XCTAssertGreaterThan(status.packets, 0, "worker \(status.worker) packets")
            XCTAssertGreaterThan(status.bursts, 0, "worker \(status.worker) bursts")
            XCTAssertGreaterThan(status.busyNanoseconds, 0, "worker \(status.worker) busy")
            XCTAssertGreaterThan(status.idleNanoseconds, 0, "worker \(status.worker) idle")
        }
    }

    func testTXRingFlushesWhenFull() throws {
        // 100 frames in one burst on a ring of 32 slots: the ring sends what it holds when it
        // fills, instead of refusing the frames after the 32nd.
        let ring = try lab.inNamespace(lab.gateway1) {
            try TXRing(interface: InterfaceInfo.read("g1o"), frameCount: 32)
        }
        let source = MACAddress(0x0200_0000_0001)
        var reserved = 0
        for index in 0..<100 {
            guard let frame = ring.reserveFrame() else { break }
            reserved += 1
            // Broadcast frames of the local experimental EtherType 0x88B5 (IEEE 802).
            Ethernet.writeHeader(
                frame, at: 0, destination: MACAddress(0xFFFF_FFFF_FFFF), source: source,
                type: 0x88B5)
            frame.writeUInt32(UInt32(index), at: Ethernet.headerSize)
            ring.commitFrame(offset: 0, length: 60)
        }
        ring.flush()
        XCTAssertEqual(reserved, 100)
        XCTAssertEqual(ring.sentFrames, 100)
        XCTAssertEqual(ring.rejectedFrames, 0)
    }

    /// Sends 5000 bytes four times with UDP_SEGMENT (103) at 1000 bytes, so each send leaves
    /// host A as one GSO frame of five datagrams.
    static let segmentSender = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_UDP, 103, 1000)
        for i in range(4):
            s.sendto(bytes([i]) * 5000, ("203.0.113.2", 9998))
        """

    /// Counts the datagrams on 203.0.113.2:9998 until 20 arrived or 3 s passed without one,
    /// and prints how many arrived and their sizes.
    static let segmentReceiver = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("203.0.113.2", 9998))
        s.settimeout(3)
        sizes = []
        try:
            while len(sizes) < 20:
                sizes.append(len(s.recv(65536)))
        except socket.timeout:
            pass
        print(len(sizes), "datagrams of", ",".join(str(n) for n in sorted(set(sizes))))
        """

    /// Sends 20 datagrams from each of 32 source ports, 32 flows that the fanout hash spreads.
    static let flowSender = """
        import socket
        for port in range(40000, 40032):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("192.0.2.2", port))
            for _ in range(20):
                s.sendto(b"x" * 200, ("203.0.113.2", 9))
            s.close()
        """
}
