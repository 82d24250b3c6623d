// Dead peer detection (RFC 7296 §2.4) as the IKEv2 profile's
// `dpd INTERVAL RETRY on-demand|periodic` sets it:
//
//   HDR, SK {}  -->
//                      <--  HDR, SK {}
//
// periodic: a liveness check goes out when nothing came from the peer for
// INTERVAL seconds. on-demand: only when, in addition, the host reported
// outbound ESP traffic since the peer was last heard from. Any authenticated
// IKE message and any inbound ESP packet the host reports counts as hearing
// from the peer. An unanswered check is retransmitted every RETRY seconds,
// without back-off, up to `maximumTransmissions` transmissions in all. After
// the last one the peer is dead: the IKE SA and its Child SAs are removed,
// and an initiator initiates its target again.
// NOTE: the default of 5 transmissions is meant to match Cisco IOS, and
// was not checked against a device or its documentation.

import TaglineConfig
import TaglineCore

extension IKEEngine {
    /// Returns the dead peer detection settings of the SA's profile as
    /// configured now, or nil when DPD is off.
    func dpdSettings(_ sa: IKESAState) -> DPDSettings? {
        sa.profileName.flatMap { config.ikev2Profiles[$0]?.dpd }
    }

    /// Returns when the SA's next liveness check is due, or nil when none is:
    /// DPD is off, the SA is not established, a rekey replaced it, or a
    /// request is outstanding (whose own retransmissions find a dead peer).
    func dpdDueAt(_ sa: IKESAState) -> Double? {
        guard sa.phase == .established, sa.replacedBySPI == nil, sa.outstanding == nil,
            let settings = dpdSettings(sa),
            let established = sa.establishedAt
        else { return nil }
        let activity = espActivity[sa.localSPI]
        let heard = max(sa.lastReceivedAt ?? established, activity?.receivedAt ?? 0, established)
        let due = heard + Double(settings.interval)
        switch settings.mode {
        case .periodic:
            return due
        case .onDemand:
            guard let sent = activity?.sentAt, sent > heard else { return nil }
            return max(due, sent)
        }
    }

    /// Sends an empty INFORMATIONAL request and retransmits it every RETRY seconds.
    func sendLivenessCheck(localSPI: UInt64) {
        guard var sa = ikeSAs[localSPI], let keys = sa.sendKeys, let settings = dpdSettings(sa)
        else { return }
        let messageID = sa.nextRequestID
        debug("IKEv2:(\(sa.tunnelID)): Sending DPD request \(messageID) to \(sa.remote)")
        guard sendRequest(.informational, [], &sa, keys: keys) else { return }
        sa.dpdMessageID = messageID
        sa.outstanding?.nextRetransmitAt = clock() + Double(settings.retry)
        ikeSAs[localSPI] = sa
    }

    /// Removes the IKE SA whose liveness check went unanswered, with its Child
    /// SAs. `removeIKESA` frees its target, so the `start()` at the end of
    /// `handleTimers()` initiates it again at once. A responder only clears the SA.
    func declarePeerDead(localSPI: UInt64, transmissions: Int) {
        guard let sa = ikeSAs[localSPI] else { return }
        log(
            .error,
            "\(sa.remote.address): peer is dead, no response to \(transmissions) DPD requests; "
                + "removing IKE SA \(sa.tunnelID) and \(sa.childSAs.count) Child SAs")
        debug("IKEv2:(\(sa.tunnelID)): Peer \(sa.remote) is dead")
        removeIKESA(localSPI: localSPI, reason: "dead peer")
    }

    /// Records the ESP traffic the host counted since its last report, by
    /// inbound SPI of the Child SA: `received` for SAs that decapsulated
    /// packets from the peer, `sent` for SAs that encapsulated packets towards
    /// it. Received packets count as hearing from the peer. Sent ones make
    /// on-demand DPD check the peer. SPIs of no Child SA are ignored.
    public func noteChildTraffic(received: Set<UInt32>, sent: Set<UInt32>) {
        guard !received.isEmpty || !sent.isEmpty else { return }
        let now = clock()
        for sa in ikeSAs.values where sa.phase == .established {
            let inbound = sa.childSAs.map(\.inboundSPI)
            var activity = espActivity[sa.localSPI] ?? ESPActivity()
            if inbound.contains(where: received.contains) { activity.receivedAt = now }
            if inbound.contains(where: sent.contains) { activity.sentAt = now }
            espActivity[sa.localSPI] = activity
        }
    }
}

/// When the host last reported ESP traffic on any Child SA of one IKE SA.
/// Kept outside `IKESAState`, so that traffic reports do not make the SA
/// count as changed for persistent storage.
struct ESPActivity {
    var receivedAt: Double?
    var sentAt: Double?
}
