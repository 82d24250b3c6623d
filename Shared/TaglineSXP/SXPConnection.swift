// The state machine of one SXP connection, free of sockets and clocks. The
// caller passes in each received message, each connection event and the
// current monotonic time in seconds. It then carries out the returned
// actions: send a message, close the TCP connection, change bindings.
//
// One `SXPConnection` lives as long as the configured peer, across TCP
// connections, because the bindings learned from the peer and the
// delete-hold-down and reconciliation timers outlive a single connection.

import TaglineCore

/// The configuration of one SXP peer, as `cts sxp connection peer` sets it.
public struct SXPPeerSettings: Equatable, Sendable {
    /// Our role on this connection.
    public var mode: SXPMode
    /// Our node ID, sent in OPEN and checked in received peer sequences.
    public var nodeID: UInt32
    /// The highest version we offer; lower when a peer needs an older one.
    public var highestVersion: SXPVersion
    /// Hold time in seconds: a listener's acceptable range, a speaker's
    /// minimum. A minimum of 0 turns keepalives off.
    public var holdTime: SXPHoldTime
    /// Seconds a listener keeps a lost peer's bindings before removing them.
    public var deleteHoldDown: Double
    /// Seconds after a reconnect within which the speaker must announce a
    /// binding again, or the listener removes it.
    public var reconciliation: Double

    public init(
        mode: SXPMode, nodeID: UInt32, highestVersion: SXPVersion = .highest,
        holdTime: SXPHoldTime? = nil, deleteHoldDown: Double = 120, reconciliation: Double = 120
    ) {
        self.mode = mode
        self.nodeID = nodeID
        self.highestVersion = highestVersion
        // Cisco IOS defaults: a listener accepts 90-180 s, a speaker requests 120 s.
        self.holdTime =
            holdTime
            ?? (mode == .listener
                ? SXPHoldTime(minimum: 90, maximum: 180) : SXPHoldTime(minimum: 120))
        self.deleteHoldDown = deleteHoldDown
        self.reconciliation = reconciliation
    }
}

/// The connection states, named as `show cts sxp connections` prints them.
public enum SXPConnectionState: String, Equatable, Sendable {
    case off = "Off"
    case pendingOn = "Pending On"
    case on = "On"
    case deleteHoldDown = "Delete Hold Down"
}

/// A binding learned from, or announced to, a peer.
public struct SXPBinding: Hashable, Sendable {
    public var prefix: IPPrefix
    public var sgt: SGT
    /// Node IDs of the speakers the binding passed through, nearest first.
    public var peerSequence: [UInt32]

    public init(prefix: IPPrefix, sgt: SGT, peerSequence: [UInt32] = []) {
        self.prefix = prefix
        self.sgt = sgt
        self.peerSequence = peerSequence
    }
}

/// A step the owner of a connection must carry out.
public enum SXPConnectionAction: Equatable, Sendable {
    /// Write the message to the TCP connection.
    case send(SXPMessage)
    /// Close the TCP connection; `reason` is for the log.
    case close(reason: String)
    /// The connection is up and we are the speaker: send every binding we announce.
    case announceAll
    /// Store these bindings as learned from the peer (source SXP).
    case learn([SXPBinding])
    /// Remove these prefixes learned from the peer.
    case forget([IPPrefix])
}

/// One SXP connection's state machine.
public struct SXPConnection: Sendable {
    public var settings: SXPPeerSettings
    public internal(set) var state: SXPConnectionState = .off
    /// The version in use, set once OPEN and OPEN_RESP are exchanged.
    public internal(set) var version: SXPVersion?
    /// Negotiated hold time in seconds; 0 when keepalives are off.
    public internal(set) var holdTime: UInt16 = 0
    /// The peer's node ID from its OPEN or OPEN_RESP, when it sent one.
    public internal(set) var peerNodeID: UInt32?
    /// Time of the last state change.
    public internal(set) var stateChangedAt: Double = 0
    /// Bindings learned from this peer, by prefix.
    public internal(set) var learned: [IPPrefix: SXPBinding] = [:]
    /// Count of bindings dropped because our node ID was in their peer sequence.
    public internal(set) var loopDrops = 0

    /// The version offered in the next OPEN; lowered after a peer rejects a higher one.
    var offeredVersion: SXPVersion
    var lastReceived: Double = 0
    var lastKeepaliveSent: Double = 0
    var holdDownDeadline: Double?
    var reconciliationDeadline: Double?
    /// Prefixes learned before a reconnect and not announced again since.
    var stale: Set<IPPrefix> = []

    public init(settings: SXPPeerSettings) {
        self.settings = settings
        self.offeredVersion = settings.highestVersion
    }

    /// True while the hold timer runs: on a listener with keepalives on.
    public var holdTimerRunning: Bool {
        state == .on && holdTime > 0 && settings.mode == .listener
    }

    mutating func enter(_ newState: SXPConnectionState, now: Double) {
        guard newState != state else { return }
        state = newState
        stateChangedAt = now
    }

    /// Starts the exchange on a TCP connection that we opened: sends OPEN.
    public mutating func connected(now: Double) -> [SXPConnectionAction] {
        enter(.pendingOn, now: now)
        lastReceived = now
        return [.send(.open(ownOpen(version: offeredVersion)))]
    }

    /// Accepts a TCP connection that the peer opened; OPEN comes from the peer.
    public mutating func accepted(now: Double) {
        enter(.pendingOn, now: now)
        lastReceived = now
    }

    /// Handles the end of the TCP connection, for whatever reason. A
    /// listener keeps the peer's bindings for the delete-hold-down period.
    public mutating func disconnected(now: Double) -> [SXPConnectionAction] {
        version = nil
        holdTime = 0
        reconciliationDeadline = nil
        guard !learned.isEmpty else {
            holdDownDeadline = nil
            enter(.off, now: now)
            return []
        }
        // A connection lost again during hold-down keeps the first deadline.
        if holdDownDeadline == nil { holdDownDeadline = now + settings.deleteHoldDown }
        enter(.deleteHoldDown, now: now)
        return []
    }

    /// Handles a message that failed to decode: sends the matching ERROR and closes.
    public mutating func receiveInvalid(
        _ error: SXPError, type: SXPMessageType?, now: Double
    ) -> [SXPConnectionAction] {
        let reply = error.reply(to: type, version: version ?? offeredVersion)
        return [.send(.error(reply)), .close(reason: "invalid message: \(error)")]
            + disconnected(now: now)
    }

    /// Builds the OPEN or OPEN_RESP body that describes our side at `version`.
    func ownOpen(version: SXPVersion) -> SXPOpen {
        var open = SXPOpen(version: version, mode: settings.mode)
        guard version.usesAttributes else { return open }
        // Both roles send their node ID, so a speaker can leave out bindings
        // whose peer sequence already contains the listener.
        open.nodeID = settings.nodeID
        switch settings.mode {
        case .speaker:
            open.holdTime = SXPHoldTime(minimum: settings.holdTime.minimum)
        case .listener:
            open.capabilities = SXPCapability.all
            open.holdTime = settings.holdTime
        }
        return open
    }
}
