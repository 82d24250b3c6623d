// Connection setup: OPEN from the peer that opened the TCP connection,
// OPEN_RESP from the other. The version in use is the lower of the two
// offered (a peer offering version 5 gets version 4), and hold times are
// negotiated from the two sides' values once both are known.

extension SXPConnection {
    /// Handles one decoded message from the peer.
    public mutating func receive(_ message: SXPMessage, now: Double) -> [SXPConnectionAction] {
        lastReceived = now
        switch message {
        case .open(let open):
            return receiveOpen(open, now: now)
        case .openResponse(let open):
            return receiveOpenResponse(open, now: now)
        case .update(let update):
            guard state == .on, settings.mode == .listener else {
                return reject(
                    .extended(code: .updateMessage, subcode: .none),
                    reason: "UPDATE received in state \(state.rawValue) as \(settings.mode)",
                    now: now)
            }
            return receiveUpdate(update, now: now)
        case .error(let error):
            if state == .pendingOn, isVersionRejection(error), offeredVersion > .v1 {
                offeredVersion = SXPVersion(rawValue: offeredVersion.rawValue - 1)
            }
            return [.close(reason: "peer sent ERROR \(error)")] + disconnected(now: now)
        case .purgeAll:
            guard state == .on, settings.mode == .listener else { return [] }
            let prefixes = Array(learned.keys)
            learned.removeAll()
            stale.removeAll()
            return prefixes.isEmpty ? [] : [.forget(prefixes)]
        case .keepalive:
            return []
        }
    }

    private func isVersionRejection(_ error: SXPErrorMessage) -> Bool {
        switch error {
        case .legacyRaw(let code): return code == SXPLegacyErrorCode.versionMismatch.rawValue
        case .extendedRaw(_, let subcode, _):
            return subcode == SXPErrorSubcode.unsupportedVersionNumber.rawValue
        }
    }

    /// Returns the hold time in seconds for a listener range and a speaker
    /// value: the lowest value inside both ranges, 0 (keepalives off) when
    /// either side sends none or sends 0 or 0xFFFF, or nil when the ranges
    /// do not overlap.
    public static func negotiateHoldTime(listener: SXPHoldTime?, speaker: SXPHoldTime?)
        -> UInt16?
    {
        guard let listener, let speaker else { return 0 }
        let off: Set<UInt16> = [0, 0xFFFF]
        if off.contains(listener.minimum) || off.contains(speaker.minimum) { return 0 }
        let lowest = max(listener.minimum, speaker.minimum)
        let highest = min(listener.maximum ?? 0xFFFF, speaker.maximum ?? 0xFFFF)
        return lowest <= highest ? lowest : nil
    }

    private mutating func receiveOpen(_ open: SXPOpen, now: Double) -> [SXPConnectionAction] {
        guard state == .pendingOn || state == .off || state == .deleteHoldDown else {
            return reject(
                .extended(code: .openMessage, subcode: .none),
                reason: "OPEN received in state \(state.rawValue)", now: now)
        }
        let chosen = min(open.version, settings.highestVersion)
        return establish(peer: open, version: chosen, sendResponse: true, now: now)
    }

    private mutating func receiveOpenResponse(_ open: SXPOpen, now: Double)
        -> [SXPConnectionAction]
    {
        guard state == .pendingOn else {
            return reject(
                .extended(code: .openMessage, subcode: .none),
                reason: "OPEN_RESP received in state \(state.rawValue)", now: now)
        }
        guard open.version <= offeredVersion else {
            return reject(
                .extended(code: .openMessage, subcode: .unsupportedVersionNumber),
                reason:
                    "OPEN_RESP names version \(open.version), above the offered \(offeredVersion)",
                now: now)
        }
        return establish(peer: open, version: open.version, sendResponse: false, now: now)
    }

    /// Checks the peer's mode and hold time, then brings the connection up.
    private mutating func establish(
        peer: SXPOpen, version chosen: SXPVersion, sendResponse: Bool, now: Double
    ) -> [SXPConnectionAction] {
        guard peer.mode != settings.mode else {
            return reject(
                .extended(code: .openMessage, subcode: .none),
                reason: "peer is also a \(peer.mode)", version: chosen, now: now)
        }
        var negotiated: UInt16 = 0
        if chosen.usesAttributes {
            let ours = ownOpen(version: chosen).holdTime
            let (listenerTime, speakerTime) =
                settings.mode == .listener ? (ours, peer.holdTime) : (peer.holdTime, ours)
            guard let value = Self.negotiateHoldTime(listener: listenerTime, speaker: speakerTime)
            else {
                return reject(
                    .extended(code: .openMessage, subcode: .unacceptableHoldTime),
                    reason: "hold times do not overlap", version: chosen, now: now)
            }
            negotiated = value
            peerNodeID = peer.nodeID
        }

        var actions = [SXPConnectionAction]()
        if sendResponse { actions.append(.send(.openResponse(ownOpen(version: chosen)))) }
        version = chosen
        holdTime = negotiated
        lastKeepaliveSent = now
        return actions + becomeOn(now: now)
    }

    /// Sends `error` (in legacy form below version 4) and closes.
    mutating func reject(
        _ error: SXPErrorMessage, reason: String, version explicit: SXPVersion? = nil, now: Double
    ) -> [SXPConnectionAction] {
        let inUse = explicit ?? version ?? offeredVersion
        let reply = inUse.usesAttributes ? error : .legacy(.messageParseError)
        return [.send(.error(reply)), .close(reason: reason)] + disconnected(now: now)
    }
}
