// IKE SA lifetime (RFC 7296 §2.8): the profile's `lifetime SECONDS` is
// local policy, not negotiated. Each side rekeys at a random 85-95% of it,
// like sa-manager does for Child SAs, so whichever side's time comes first
// rekeys. An IKE SA that reaches its full lifetime without a successful
// rekey is deleted, and its target initiates a new one.

import TaglineCore

extension IKEEngine {
    /// Sets the rekey and expiry times of an SA from its establishment time
    /// and `lifetimeSeconds`. A lifetime of 0 means no limit.
    func scheduleIKELifetime(_ sa: inout IKESAState) {
        let start = sa.establishedAt ?? clock()
        let lifetime = Double(sa.lifetimeSeconds)
        guard lifetime > 0 else {
            sa.rekeyAt = nil
            sa.expiresAt = nil
            return
        }
        let bytes = random(2)
        let uniform = Double(UInt16(bytes[0]) << 8 | UInt16(bytes[1])) / Double(UInt16.max)
        sa.rekeyAt = start + lifetime * (0.85 + 0.10 * uniform)
        sa.expiresAt = start + lifetime
    }

    /// Gives an SA saved before lifetimes were tracked its rekey and expiry times.
    func prepareRestoredLifetime(_ sa: inout IKESAState) {
        if sa.expiresAt == nil { scheduleIKELifetime(&sa) }
    }

    /// Deletes established SAs past their lifetime and starts due rekeys.
    func handleIKELifetimes(now: Double) {
        for spi in ikeSAs.keys.sorted() {
            guard let sa = ikeSAs[spi], sa.phase == .established else { continue }
            if let expiry = sa.expiresAt, expiry <= now {
                if sa.replacedBySPI != nil {
                    removeIKESA(localSPI: spi, reason: "no Delete after its rekey")
                    continue
                }
                log(
                    .notice,
                    "\(sa.remote.address): IKE SA \(sa.tunnelID) reached its lifetime of "
                        + "\(sa.lifetimeSeconds) s without a rekey")
                beginDelete(localSPI: spi, reason: "lifetime expired")
                continue
            }
            _ = startIKERekeyIfDue(localSPI: spi)
        }
    }

    /// Returns when `handleTimers()` next has lifetime work for `sa`: its
    /// expiry, or its rekey while it is idle. An SA busy with another
    /// exchange starts its rekey when that exchange ends.
    func ikeLifetimeDeadline(_ sa: IKESAState) -> Double? {
        guard sa.phase == .established else { return nil }
        var deadline = sa.expiresAt
        if sa.replacedBySPI == nil, sa.pendingIKERekey == nil, sa.outstanding == nil,
            sa.pendingChild == nil, let rekeyAt = sa.rekeyAt
        {
            deadline = min(deadline ?? rekeyAt, rekeyAt)
        }
        return deadline
    }
}
