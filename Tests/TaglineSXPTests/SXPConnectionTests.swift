import TaglineCore
import XCTest

@testable import TaglineSXP

/// Two connection state machines in one process, messages passed as bytes.
final class SXPConnectionTests: XCTestCase {
    let speakerNode: UInt32 = 0xC000_0201  // 192.0.2.1
    let listenerNode: UInt32 = 0xC633_6401  // 198.51.100.1

    /// Returns the messages among `actions`, after an encode and decode at `version`.
    func sent(_ actions: [SXPConnectionAction], version: SXPVersion = .v4) throws -> [SXPMessage] {
        try actions.compactMap { action -> SXPMessage? in
            guard case .send(let message) = action else { return nil }
            return try SXPMessage.decode(message.encode(version: version), version: version)
        }
    }

    func closes(_ actions: [SXPConnectionAction]) -> Bool {
        actions.contains { if case .close = $0 { return true } else { return false } }
    }

    /// Brings up speaker (TCP initiator) and listener; returns both.
    func establish(
        speaker speakerSettings: SXPPeerSettings? = nil,
        listener listenerSettings: SXPPeerSettings? = nil, now: Double = 0
    ) throws -> (SXPConnection, SXPConnection) {
        var speaker = SXPConnection(
            settings: speakerSettings ?? SXPPeerSettings(mode: .speaker, nodeID: speakerNode))
        var listener = SXPConnection(
            settings: listenerSettings ?? SXPPeerSettings(mode: .listener, nodeID: listenerNode))
        // speaker -> listener: OPEN
        let open = try sent(speaker.connected(now: now))
        listener.accepted(now: now)
        // listener -> speaker: OPEN_RESP
        let response = try sent(listener.receive(open[0], now: now))
        XCTAssertEqual(response.count, 1)
        let speakerActions = speaker.receive(response[0], now: now)
        XCTAssertEqual(speakerActions, [.announceAll])
        return (speaker, listener)
    }

    func testVersionFourComesUp() throws {
        let (speaker, listener) = try establish()
        XCTAssertEqual(speaker.state, .on)
        XCTAssertEqual(listener.state, .on)
        XCTAssertEqual(speaker.version, .v4)
        XCTAssertEqual(listener.version, .v4)
        XCTAssertEqual(speaker.holdTime, 120)
        XCTAssertEqual(listener.holdTime, 120)
        XCTAssertEqual(listener.peerNodeID, speakerNode)
    }

    func testS7VersionFiveAnsweredWithFour() throws {
        var listener = SXPConnection(settings: SXPPeerSettings(mode: .listener, nodeID: 1))
        listener.accepted(now: 0)
        let offer = SXPOpen(
            version: SXPVersion(rawValue: 5), mode: .speaker, nodeID: 9,
            holdTime: SXPHoldTime(minimum: 120))
        let bytes = SXPMessage.open(offer).encode(version: .v4)
        let actions = listener.receive(try SXPMessage.decode(bytes, version: .v4), now: 0)
        guard case .openResponse(let response)? = try sent(actions).first else {
            return XCTFail("expected OPEN_RESP, got \(actions)")
        }
        XCTAssertEqual(response.version, .v4)
        XCTAssertEqual(listener.version, .v4)
        XCTAssertEqual(listener.state, .on)
    }

    func testFallbackToVersionThree() throws {
        let old = SXPPeerSettings(mode: .listener, nodeID: listenerNode, highestVersion: .v3)
        let (speaker, listener) = try establish(listener: old)
        XCTAssertEqual(speaker.version, .v3)
        XCTAssertEqual(listener.version, .v3)
        XCTAssertEqual(speaker.holdTime, 0)
        XCTAssertNil(speaker.keepaliveInterval)

        let binding = SXPBinding(prefix: prefix("192.0.2.0/24"), sgt: tag(4))
        let messages = speaker.updates(adding: [binding], removing: [])
        XCTAssertEqual(messages.count, 1)
        let bytes = messages[0].encode(version: .v3)
        guard case .update(let update) = try SXPMessage.decode(bytes, version: .v3) else {
            return XCTFail("expected UPDATE")
        }
        XCTAssertEqual(update.additions.first?.prefixes, [prefix("192.0.2.0/24")])
    }

    func testVersionRejectionLowersOffer() throws {
        var speaker = SXPConnection(settings: SXPPeerSettings(mode: .speaker, nodeID: 1))
        _ = speaker.connected(now: 0)
        let actions = speaker.receive(.error(.legacy(.versionMismatch)), now: 1)
        XCTAssertTrue(closes(actions))
        XCTAssertEqual(speaker.state, .off)
        guard case .open(let open)? = try sent(speaker.connected(now: 2)).first else {
            return XCTFail("expected OPEN")
        }
        XCTAssertEqual(open.version, .v3)
    }

    func testHoldTimeNegotiation() {
        let cases: [(SXPHoldTime?, SXPHoldTime?, UInt16?)] = [
            (SXPHoldTime(minimum: 90, maximum: 180), SXPHoldTime(minimum: 120), 120),
            (SXPHoldTime(minimum: 90, maximum: 180), SXPHoldTime(minimum: 30), 90),
            (SXPHoldTime(minimum: 90, maximum: 180), SXPHoldTime(minimum: 200), nil),
            (SXPHoldTime(minimum: 0, maximum: 0), SXPHoldTime(minimum: 120), 0),
            (SXPHoldTime(minimum: 90, maximum: 180), SXPHoldTime(minimum: 0xFFFF), 0),
            (nil, SXPHoldTime(minimum: 120), 0),
            (SXPHoldTime(minimum: 90, maximum: 180), nil, 0),
        ]
        for (index, item) in cases.enumerated() {
            XCTAssertEqual(
                SXPConnection.negotiateHoldTime(listener: item.0, speaker: item.1), item.2,
                "case \(index)")
        }
    }

    func testUnacceptableHoldTimeRejected() throws {
        var listener = SXPConnection(settings: SXPPeerSettings(mode: .listener, nodeID: 1))
        listener.accepted(now: 0)
        let offer = SXPOpen(version: .v4, mode: .speaker, holdTime: SXPHoldTime(minimum: 500))
        let actions = listener.receive(.open(offer), now: 0)
        XCTAssertEqual(
            try sent(actions),
            [.error(.extended(code: .openMessage, subcode: .unacceptableHoldTime))])
        XCTAssertTrue(closes(actions))
        XCTAssertEqual(listener.state, .off)
    }

    func testSameModeRejected() throws {
        var listener = SXPConnection(settings: SXPPeerSettings(mode: .listener, nodeID: 1))
        listener.accepted(now: 0)
        let actions = listener.receive(.open(SXPOpen(version: .v4, mode: .listener)), now: 0)
        XCTAssertTrue(closes(actions))
        XCTAssertEqual(listener.state, .off)
    }

    func testSpeakerSendsKeepalives() throws {
        var (speaker, _) = try establish()
        XCTAssertEqual(speaker.keepaliveInterval, 40)
        XCTAssertEqual(speaker.nextDeadline, 40)
        XCTAssertEqual(speaker.expire(now: 39), [])
        XCTAssertEqual(speaker.expire(now: 40), [.send(.keepalive)])
        XCTAssertEqual(speaker.nextDeadline, 80)
    }

    func testHoldTimerExpiryCloses() throws {
        var (_, listener) = try establish()
        XCTAssertTrue(listener.holdTimerRunning)
        XCTAssertEqual(listener.receive(.keepalive, now: 100), [])
        XCTAssertEqual(listener.expire(now: 219), [])
        XCTAssertTrue(closes(listener.expire(now: 220)))
        XCTAssertEqual(listener.state, .off)
    }

    func testSilentPeerTimesOut() {
        var listener = SXPConnection(settings: SXPPeerSettings(mode: .listener, nodeID: 1))
        listener.accepted(now: 10)
        XCTAssertEqual(listener.nextDeadline, 130)
        XCTAssertEqual(listener.expire(now: 129), [])
        XCTAssertTrue(closes(listener.expire(now: 130)))
        XCTAssertEqual(listener.state, .off)
    }

    func testListenerLearnsAndForgets() throws {
        var (speaker, listener) = try establish()
        let bindings = [
            SXPBinding(prefix: prefix("192.0.2.0/24"), sgt: tag(10)),
            SXPBinding(prefix: prefix("2001:db8::/48"), sgt: tag(11)),
        ]
        let update = try sent(speaker.updates(adding: bindings, removing: []).map { .send($0) })
        let actions = listener.receive(update[0], now: 1)
        let expected = bindings.map {
            SXPBinding(prefix: $0.prefix, sgt: $0.sgt, peerSequence: [speakerNode])
        }
        XCTAssertEqual(actions, [.learn(expected)])
        XCTAssertEqual(listener.learned.count, 2)

        let removal = speaker.updates(adding: [], removing: [prefix("192.0.2.0/24")])
        XCTAssertEqual(listener.receive(removal[0], now: 2), [.forget([prefix("192.0.2.0/24")])])
        XCTAssertEqual(listener.learned.count, 1)

        XCTAssertEqual(listener.receive(.purgeAll, now: 3), [.forget([prefix("2001:db8::/48")])])
        XCTAssertTrue(listener.learned.isEmpty)
        _ = speaker
    }

    func testLoopedBindingDropped() throws {
        var (_, listener) = try establish()
        let update = SXPUpdate(additions: [
            SXPBindingGroup(
                peerSequence: [speakerNode, listenerNode], sgt: tag(5),
                prefixes: [prefix("203.0.113.0/24")]),
            SXPBindingGroup(
                peerSequence: [speakerNode], sgt: tag(6), prefixes: [prefix("203.0.113.9/32")]),
        ])
        let actions = listener.receive(.update(update), now: 1)
        XCTAssertEqual(
            actions,
            [
                .learn([
                    SXPBinding(
                        prefix: prefix("203.0.113.9/32"), sgt: tag(6), peerSequence: [speakerNode])
                ])
            ])
        XCTAssertEqual(listener.loopDrops, 1)
    }

    func testSpeakerSkipsPeerOrigin() throws {
        let (speaker, _) = try establish()
        let looped = SXPBinding(
            prefix: prefix("192.0.2.5/32"), sgt: tag(3), peerSequence: [listenerNode])
        XCTAssertEqual(speaker.updates(adding: [looped], removing: []), [])
    }

    func testDeleteHoldDownKeepsBindings() throws {
        var (_, listener) = try establish()
        let update = SXPUpdate(additions: [
            SXPBindingGroup(
                peerSequence: [speakerNode], sgt: tag(5), prefixes: [prefix("192.0.2.0/24")])
        ])
        _ = listener.receive(.update(update), now: 1)
        XCTAssertEqual(listener.disconnected(now: 10), [])
        XCTAssertEqual(listener.state, .deleteHoldDown)
        XCTAssertEqual(listener.nextDeadline, 130)
        XCTAssertEqual(listener.expire(now: 129), [])
        XCTAssertEqual(listener.learned.count, 1)
        XCTAssertEqual(listener.expire(now: 130), [.forget([prefix("192.0.2.0/24")])])
        XCTAssertEqual(listener.state, .off)
    }

    func testReconciliationRemovesStale() throws {
        var (speaker, listener) = try establish()
        let first = SXPUpdate(additions: [
            SXPBindingGroup(
                peerSequence: [speakerNode], sgt: tag(5),
                prefixes: [prefix("192.0.2.0/24"), prefix("198.51.100.0/24")])
        ])
        _ = listener.receive(.update(first), now: 1)
        _ = speaker.disconnected(now: 10)
        _ = listener.disconnected(now: 10)

        // The speaker reconnects within delete-hold-down.
        let open = try sent(speaker.connected(now: 20))
        listener.accepted(now: 20)
        let response = try sent(listener.receive(open[0], now: 20))
        XCTAssertEqual(speaker.receive(response[0], now: 20), [.announceAll])
        XCTAssertEqual(listener.state, .on)

        // Only one of the two bindings is announced again, unchanged.
        let again = SXPUpdate(additions: [
            SXPBindingGroup(
                peerSequence: [speakerNode], sgt: tag(5), prefixes: [prefix("192.0.2.0/24")])
        ])
        XCTAssertEqual(listener.receive(.update(again), now: 30), [])
        XCTAssertEqual(listener.expire(now: 139), [])
        XCTAssertEqual(listener.expire(now: 140), [.forget([prefix("198.51.100.0/24")])])
        XCTAssertEqual(Array(listener.learned.keys), [prefix("192.0.2.0/24")])
    }

    func testInvalidMessageSendsErrorAndCloses() throws {
        var (_, listener) = try establish()
        var framer = SXPFramer()
        framer.append([0, 0, 0, 7, 0, 0, 0, 6])
        var actions = [SXPConnectionAction]()
        do {
            _ = try framer.next()
            XCTFail("length 7 decoded")
        } catch let error as SXPError {
            actions = listener.receiveInvalid(error, type: nil, now: 5)
        }
        XCTAssertEqual(
            try sent(actions), [.error(.extended(code: .messageHeader, subcode: .none))])
        XCTAssertTrue(closes(actions))
        XCTAssertEqual(listener.state, .off)
    }

    func testUpdateToSpeakerRejected() throws {
        var (speaker, _) = try establish()
        let actions = speaker.receive(.update(SXPUpdate()), now: 1)
        XCTAssertTrue(closes(actions))
    }
}
