import TaglineCore
import XCTest

@testable import TaglineSXP

#if canImport(Glibc)
    import Glibc
#endif

/// Endpoints over real TCP on loopback, with TCP-MD5. The speaker side uses
/// 127.0.0.1 and the listener side 127.0.0.2, so each can tell the other by
/// address. Listeners bind port 0 and report the port the kernel chose.
final class SXPEndpointTests: XCTestCase {
    let speakerAddress = IPAddress("127.0.0.1")!
    let listenerAddress = IPAddress("127.0.0.2")!
    let key = Array("sxp-test-key".utf8)

    func now() -> Double { Double(monotonicNanoseconds()) / 1e9 }

    /// A listener endpoint with one configured speaker peer, and the bindings it learned.
    final class ListenerSide {
        let endpoint: SXPEndpoint
        var bindings: [IPPrefix: SGT] = [:]
        var forgets = 0
        var descriptors: Set<Int32> = []

        init(peer: IPAddress, address: IPAddress, key: [UInt8]?, holdDown: Double = 120) throws {
            let settings = SXPPeerSettings(
                mode: .listener, nodeID: 0x7F00_0002, deleteHoldDown: holdDown)
            endpoint = try SXPEndpoint(
                peers: [SXPPeerConfig(address: peer, key: key, settings: settings)],
                listenAddress: address, port: 0)
            endpoint.onDescriptorAdded = { [weak self] in self?.descriptors.insert($0) }
            endpoint.onDescriptorRemoved = { [weak self] in self?.descriptors.remove($0) }
            endpoint.onLearn = { [weak self] _, learned in
                for binding in learned { self?.bindings[binding.prefix] = binding.sgt }
            }
            endpoint.onForget = { [weak self] _, prefixes in
                self?.forgets += 1
                for prefix in prefixes { self?.bindings[prefix] = nil }
            }
        }
    }

    /// A speaker endpoint that announces `bindings`.
    final class SpeakerSide {
        let endpoint: SXPEndpoint
        var descriptors: Set<Int32> = []

        init(
            peer: IPAddress, port: UInt16, address: IPAddress, key: [UInt8]?,
            bindings: [SXPBinding]
        ) throws {
            let settings = SXPPeerSettings(mode: .speaker, nodeID: 0x7F00_0001)
            endpoint = try SXPEndpoint(
                peers: [
                    SXPPeerConfig(
                        address: peer, source: address, key: key, port: port, settings: settings)
                ],
                listenAddress: address, port: 0, retryPeriod: 1)
            endpoint.onDescriptorAdded = { [weak self] in self?.descriptors.insert($0) }
            endpoint.onDescriptorRemoved = { [weak self] in self?.descriptors.remove($0) }
            endpoint.bindingsToAnnounce = { _ in bindings }
        }
    }

    /// Polls the endpoints' descriptors and ticks them until `done` or `seconds` pass.
    @discardableResult
    func run(
        _ endpoints: [(SXPEndpoint, () -> Set<Int32>)], for seconds: Double,
        until done: () -> Bool = { false }
    ) -> Bool {
        let deadline = now() + seconds
        for (endpoint, _) in endpoints where !endpointStarted.contains(ObjectIdentifier(endpoint)) {
            endpointStarted.insert(ObjectIdentifier(endpoint))
            endpoint.start(now: now())
        }
        while now() < deadline {
            if done() { return true }
            var entries = [pollfd]()
            var owners = [SXPEndpoint]()
            for (endpoint, descriptors) in endpoints {
                for fd in descriptors() {
                    entries.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                    owners.append(endpoint)
                }
            }
            _ = poll(&entries, nfds_t(entries.count), 20)
            for (index, entry) in entries.enumerated() where entry.revents != 0 {
                owners[index].readable(entry.fd, now: now())
            }
            for (endpoint, _) in endpoints { endpoint.tick(now: now()) }
        }
        return done()
    }
    var endpointStarted: Set<ObjectIdentifier> = []

    func pair(_ listener: ListenerSide, _ speaker: SpeakerSide) -> [(SXPEndpoint, () -> Set<Int32>)]
    {
        [
            (listener.endpoint, { listener.descriptors }),
            (speaker.endpoint, { speaker.descriptors }),
        ]
    }

    let announced = [
        SXPBinding(prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(10)!),
        SXPBinding(prefix: IPPrefix("2001:db8::/32")!, sgt: SGT(20)!),
    ]

    func testSpeakerToListenerWithMD5() throws {
        let listener = try ListenerSide(peer: speakerAddress, address: listenerAddress, key: key)
        let speaker = try SpeakerSide(
            peer: listenerAddress, port: listener.endpoint.listenerPort, address: speakerAddress,
            key: key, bindings: announced)
        let learned = run(pair(listener, speaker), for: 5) { listener.bindings.count == 2 }
        XCTAssertTrue(learned)
        XCTAssertEqual(listener.bindings[IPPrefix("192.0.2.0/24")!], SGT(10))
        XCTAssertEqual(listener.bindings[IPPrefix("2001:db8::/32")!], SGT(20))
        XCTAssertEqual(listener.endpoint.connection(for: speakerAddress)?.version, .v4)

        // A change announced later reaches the listener too.
        speaker.endpoint.announce(
            adding: [SXPBinding(prefix: IPPrefix("198.51.100.7/32")!, sgt: SGT(30)!)],
            removing: [IPPrefix("192.0.2.0/24")!], except: nil, now: now())
        let changed = run(pair(listener, speaker), for: 5) {
            listener.bindings[IPPrefix("198.51.100.7/32")!] == SGT(30)
                && listener.bindings[IPPrefix("192.0.2.0/24")!] == nil
        }
        XCTAssertTrue(changed)

        let status = listener.endpoint.statuses(now: now())
        XCTAssertEqual(status.first?.state, "On")
        XCTAssertEqual(status.first?.password, "connection")
        XCTAssertEqual(status.first?.holdTime, 120)
    }

    func testS8UnsignedConnectNeverCompletes() throws {
        let listener = try ListenerSide(peer: speakerAddress, address: listenerAddress, key: key)
        let port = listener.endpoint.listenerPort

        // A plain connect without the MD5 option: the kernel drops the SYN.
        let plain = try SXPSocket.connect(
            to: listenerAddress, port: port, from: speakerAddress, key: nil)
        defer { close(plain) }
        var completed: Int32?
        let deadline = now() + 2
        while now() < deadline, completed == nil {
            completed = SXPSocket.connectResult(plain)
            usleep(20_000)
        }
        XCTAssertNil(completed, "unsigned connect completed with result \(completed ?? -1)")

        // The same connect with the key completes.
        let signed = try SXPSocket.connect(
            to: listenerAddress, port: port, from: speakerAddress, key: key)
        defer { close(signed) }
        var result: Int32?
        let signedDeadline = now() + 2
        while now() < signedDeadline, result == nil {
            result = SXPSocket.connectResult(signed)
            usleep(20_000)
        }
        XCTAssertEqual(result, 0)
    }

    /// Opens a raw client connection to the listener and completes the OPEN exchange.
    func openRawClient(_ listener: ListenerSide) throws -> Int32 {
        let fd = try SXPSocket.connect(
            to: listenerAddress, port: listener.endpoint.listenerPort, from: speakerAddress,
            key: key)
        let connected = run([(listener.endpoint, { listener.descriptors })], for: 2) {
            SXPSocket.connectResult(fd) != nil
        }
        XCTAssertTrue(connected)
        let open = SXPOpen(
            version: .v4, mode: .speaker, nodeID: 0x7F00_0001, holdTime: SXPHoldTime(minimum: 120))
        write(fd, SXPMessage.open(open).encode(version: .v4))
        let response = readMessages(fd, listener: listener, count: 1)
        guard case .openResponse? = response.first else {
            XCTFail("expected OPEN_RESP, got \(response)")
            return fd
        }
        return fd
    }

    func write(_ fd: Int32, _ bytes: [UInt8]) {
        let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        XCTAssertEqual(written, bytes.count)
    }

    /// Reads until `count` messages arrive or the peer closes; returns them.
    func readMessages(_ fd: Int32, listener: ListenerSide, count: Int) -> [SXPMessage] {
        var framer = SXPFramer()
        var messages = [SXPMessage]()
        var closed = false
        run([(listener.endpoint, { listener.descriptors })], for: 3) {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let got = buffer.withUnsafeMutableBytes {
                recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
            }
            if got == 0 { closed = true }
            if got > 0 { framer.append(buffer[0..<got]) }
            while let frame = try? framer.next() {
                if let message = try? SXPMessage.decode(frame.bytes, version: .v4) {
                    messages.append(message)
                }
            }
            return messages.count >= count || closed
        }
        return messages
    }

    /// Returns true when the peer closes `fd` within the time limit.
    func peerCloses(_ fd: Int32, listener: ListenerSide) -> Bool {
        run([(listener.endpoint, { listener.descriptors })], for: 3) {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0
        }
    }

    func testMalformedMessagesAnsweredAndClosed() throws {
        let listener = try ListenerSide(peer: speakerAddress, address: listenerAddress, key: key)
        let peerSequenceAndSGT: [UInt8] = [
            0x10, 0x10, 0x04, 0x7F, 0, 0, 1, 0x10, 0x11, 0x02, 0, 10,
        ]
        let cases: [(String, [UInt8], SXPErrorMessage)] = [
            ("S1", [0, 0, 0, 7, 0, 0, 0, 6], .extended(code: .messageHeader, subcode: .none)),
            (
                "S2", [0, 0, 0x13, 0x88, 0, 0, 0, 3],
                .extended(code: .messageHeader, subcode: .none)
            ),
            (
                "S3",
                sxpMessage(
                    type: 3,
                    body: peerSequenceAndSGT + [0x10, 0x0D, 0x05, 32, 192, 0, 2, 1]
                        + [0x10, 0x0D, 40, 32, 192, 0, 2, 2]),
                .extended(code: .updateMessage, subcode: .attributeLengthError)
            ),
        ]
        for (name, bytes, expected) in cases {
            let fd = try openRawClient(listener)
            defer { close(fd) }
            write(fd, bytes)
            let reply = readMessages(fd, listener: listener, count: 1)
            XCTAssertEqual(reply, [.error(expected)], name)
            XCTAssertTrue(peerCloses(fd, listener: listener), name)
            XCTAssertTrue(listener.bindings.isEmpty, "\(name): \(listener.bindings)")
        }

        // The listener keeps serving: a well-formed UPDATE is applied.
        let fd = try openRawClient(listener)
        defer { close(fd) }
        write(
            fd,
            sxpMessage(type: 3, body: peerSequenceAndSGT + [0x10, 0x0D, 0x05, 32, 192, 0, 2, 1]))
        let learned = run([(listener.endpoint, { listener.descriptors })], for: 3) {
            listener.bindings[IPPrefix("192.0.2.1/32")!] == SGT(10)
        }
        XCTAssertTrue(learned)
    }

    func testFlappingSpeakerKeepsBindings() throws {
        let listener = try ListenerSide(peer: speakerAddress, address: listenerAddress, key: key)
        var speaker: SpeakerSide? = try SpeakerSide(
            peer: listenerAddress, port: listener.endpoint.listenerPort, address: speakerAddress,
            key: key, bindings: announced)
        XCTAssertTrue(run(pair(listener, speaker!), for: 5) { listener.bindings.count == 2 })

        // The speaker goes away: its connection closes, delete-hold-down starts.
        speaker!.endpoint.shutdown()
        speaker = nil
        let held = run([(listener.endpoint, { listener.descriptors })], for: 5) {
            listener.endpoint.connection(for: self.speakerAddress)?.state == .deleteHoldDown
        }
        XCTAssertTrue(held)
        run([(listener.endpoint, { listener.descriptors })], for: 0.5)
        XCTAssertEqual(listener.bindings.count, 2)
        XCTAssertEqual(listener.forgets, 0)

        // It comes back and announces the same bindings: nothing is removed.
        let again = try SpeakerSide(
            peer: listenerAddress, port: listener.endpoint.listenerPort, address: speakerAddress,
            key: key, bindings: announced)
        let up = run(pair(listener, again), for: 5) {
            listener.endpoint.connection(for: self.speakerAddress)?.state == .on
        }
        XCTAssertTrue(up)
        run(pair(listener, again), for: 0.5)
        XCTAssertEqual(listener.bindings.count, 2)
        XCTAssertEqual(listener.forgets, 0)
    }

    func testHoldDownExpiryRemovesBindings() throws {
        let listener = try ListenerSide(
            peer: speakerAddress, address: listenerAddress, key: key, holdDown: 1)
        let speaker = try SpeakerSide(
            peer: listenerAddress, port: listener.endpoint.listenerPort, address: speakerAddress,
            key: key, bindings: announced)
        XCTAssertTrue(run(pair(listener, speaker), for: 5) { listener.bindings.count == 2 })
        speaker.endpoint.shutdown()
        let removed = run([(listener.endpoint, { listener.descriptors })], for: 5) {
            listener.bindings.isEmpty
        }
        XCTAssertTrue(removed)
    }
}
