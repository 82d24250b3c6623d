// Child SA rekeying (RFC 7296 §1.3.3, §2.8), make-before-break:
//
//   HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr}  -->
//                                <--  HDR, SK {SA, Nr, TSi, TSr}
//   HDR, SK {D(old SPI)}  -->
//                                <--  HDR, SK {D(peer's old SPI)}
//
// The new pair is installed when the response arrives. The Delete for the
// old one follows `rekeyDeleteDelay` later, and the old pair is removed
// only once the peer has responded to it. sa-manager reports the
// soft and hard lifetimes through `childSAExpiring(inboundSPI:hard:)`.

import TaglineCore

extension IKEEngine {
    /// Acts on a Child SA lifetime event. At the soft lifetime the SA is
    /// rekeyed, unless a rekey already replaced it or is under way. At the hard
    /// lifetime sa-manager has deleted it already: it is forgotten, a Delete
    /// makes the peer remove its half (RFC 7296 §1.4.1), and an initiator
    /// left without Child SAs creates a fresh one for its target.
    public func childSAExpiring(inboundSPI: UInt32, hard: Bool) {
        guard
            var sa = ikeSAs.values.first(where: { sa in
                sa.childSAs.contains { $0.inboundSPI == inboundSPI }
            })
        else { return }
        let name = "0x" + String(inboundSPI, radix: 16)
        if hard {
            sa.childSAs.removeAll { $0.inboundSPI == inboundSPI }
            sa.queuedRekeys?.removeAll { $0 == inboundSPI }
            sa.replacedChildSPIs?.removeAll { $0 == inboundSPI }
            log(.notice, "\(sa.remote.address): Child SA \(name) reached its hard lifetime")
            // Without a Delete the peer would keep sending into an SPI that is gone.
            // A rekeyed SA already has its Delete queued or sent.
            let deleteQueued =
                (sa.queuedChildDeletes ?? []).contains(inboundSPI)
                || (sa.pendingChildDeletes ?? []).contains(inboundSPI)
            if !deleteQueued {
                sa.queuedChildDeletes = (sa.queuedChildDeletes ?? []) + [inboundSPI]
            }
            let rekeying = sa.pendingChild?.rekeyedInboundSPI == inboundSPI
            if sa.childSAs.isEmpty, !rekeying, sa.pendingChild == nil,
                sa.queuedChildren.isEmpty, let key = sa.targetKey,
                let target = targets[key]?.target
            {
                log(.notice, "\(sa.remote.address): no Child SA left, creating a new one")
                sa.queuedChildren = target.children
            }
            ikeSAs[sa.localSPI] = sa
            startNextChildWork(localSPI: sa.localSPI)
            return
        }
        let replaced = sa.replacedChildSPIs?.contains(inboundSPI) ?? false
        let underWay =
            sa.pendingChild?.rekeyedInboundSPI == inboundSPI
            || (sa.queuedRekeys?.contains(inboundSPI) ?? false)
        guard !replaced, !underWay else { return }
        debug("IKEv2:(\(sa.tunnelID)): Child SA \(name) reached its soft lifetime, rekeying")
        sa.queuedRekeys = (sa.queuedRekeys ?? []) + [inboundSPI]
        ikeSAs[sa.localSPI] = sa
        startNextChildWork(localSPI: sa.localSPI)
    }

    /// Starts the next request an established SA waits to send: a Child SA
    /// Delete that is due first, then a rekey, then a further Child SA.
    func startNextChildWork(localSPI: UInt64) {
        guard var sa = ikeSAs[localSPI], sa.phase == .established, sa.outstanding == nil,
            sa.pendingChild == nil, let keys = sa.sendKeys
        else { return }
        // A due IKE SA rekey goes first: the Child SA work moves to the new SA.
        if startIKERekeyIfDue(localSPI: localSPI) { return }
        if let deletes = sa.queuedChildDeletes, !deletes.isEmpty,
            (sa.childWorkDueAt ?? 0) <= clock()
        {
            sa.queuedChildDeletes = nil
            sa.childWorkDueAt = nil
            sa.pendingChildDeletes = deletes
            debug("IKEv2:(\(sa.tunnelID)): Sending Delete for Child SAs \(hexList(deletes))")
            sendRequest(.informational, [.delete(DeletePayload(espSPIs: deletes))], &sa, keys: keys)
            return
        }
        while var rekeys = sa.queuedRekeys, !rekeys.isEmpty {
            let spi = rekeys.removeFirst()
            sa.queuedRekeys = rekeys
            guard let old = sa.childSAs.first(where: { $0.inboundSPI == spi }) else { continue }
            guard let inboundSPI = delegate?.engineAllocateInboundSPI(self) else {
                log(.warning, "\(sa.remote.address): no inbound SPI available for a rekey")
                sa.queuedRekeys = [spi] + rekeys
                sa.childWorkDueAt = clock() + retransmitInterval
                ikeSAs[localSPI] = sa
                return
            }
            let policy = ChildPolicy(rekeying: old)
            let pending = PendingChildSA(
                inboundSPI: inboundSPI, policy: policy, initiatorSelectors: old.localSelectors,
                responderSelectors: old.remoteSelectors, rekeyedInboundSPI: spi,
                pfsGroup: policy.pfsGroup)
            debug(
                "IKEv2:(\(sa.tunnelID)): Sending CREATE_CHILD_SA request to rekey Child SA "
                    + "0x\(String(spi, radix: 16))")
            sendChildRequest(pending, &sa, keys: keys)
            return
        }
        ikeSAs[localSPI] = sa
        createNextChild(localSPI: localSPI)
    }

    /// Finishes this side's rekey once the response was handled: the old SA
    /// is marked replaced and its Delete queued if the new one is installed.
    /// In a collision, the SA made with the lowest of the four nonces is
    /// deleted by the side that created it (RFC 7296 §2.8.1).
    func finishRekey(
        _ pending: PendingChildSA, responderNonce: [UInt8]?, _ sa: inout IKESAState
    ) {
        guard let oldSPI = pending.rekeyedInboundSPI else { return }
        let name = "0x" + String(oldSPI, radix: 16)
        guard sa.childSAs.contains(where: { $0.inboundSPI == pending.inboundSPI }) else {
            log(.warning, "\(sa.remote.address): rekey of Child SA \(name) failed")
            // The old SA reached its hard lifetime meanwhile: start over with a new one.
            if sa.childSAs.isEmpty, sa.queuedChildren.isEmpty, let key = sa.targetKey,
                let target = targets[key]?.target
            {
                log(.notice, "\(sa.remote.address): no Child SA left, creating a new one")
                sa.queuedChildren = target.children
            }
            return
        }
        var deletes = [oldSPI]
        if let collision = pending.collision, let responderNonce {
            let ours = [pending.nonce, responderNonce]
            let theirs = [collision.peerNonce, collision.ourResponseNonce]
            let lowest = (ours + theirs).min { $0.lexicographicallyPrecedes($1) }
            if let lowest, ours.contains(lowest) {
                log(
                    .info,
                    "\(sa.remote.address): rekey collision for Child SA \(name), "
                        + "deleting the redundant one this side created")
                deletes.append(pending.inboundSPI)
            }
        }
        markReplaced(oldSPI, &sa)
        sa.queuedChildDeletes = (sa.queuedChildDeletes ?? []) + deletes
        sa.childWorkDueAt = clock() + rekeyDeleteDelay
    }

    /// Records that a rekey replaced the Child SA with `inboundSPI`.
    func markReplaced(_ inboundSPI: UInt32, _ sa: inout IKESAState) {
        sa.queuedRekeys?.removeAll { $0 == inboundSPI }
        if !(sa.replacedChildSPIs?.contains(inboundSPI) ?? false) {
            sa.replacedChildSPIs = (sa.replacedChildSPIs ?? []) + [inboundSPI]
        }
    }

    /// Removes the Child SAs named by the Delete the peer just responded to.
    func finishChildDeletes(_ sa: inout IKESAState) {
        guard let deletes = sa.pendingChildDeletes else { return }
        sa.pendingChildDeletes = nil
        for spi in deletes {
            sa.replacedChildSPIs?.removeAll { $0 == spi }
            guard let index = sa.childSAs.firstIndex(where: { $0.inboundSPI == spi }) else {
                continue
            }
            sa.childSAs.remove(at: index)
            log(.notice, "\(sa.remote.address): Child SA 0x\(String(spi, radix: 16)) deleted")
            delegate?.engine(self, deleteChildSA: spi)
        }
    }

    /// Checks the REKEY_SA notify of a peer's CREATE_CHILD_SA. Returns the
    /// inbound SPI of the Child SA it rekeys, or nil when the request creates a
    /// new Child SA. Throws when it names no Child SA of this IKE SA.
    func rekeyedChild(of message: IKEMessage, _ sa: IKESAState) throws -> UInt32? {
        guard let notify = message.notify(.rekeySA) else { return nil }
        guard notify.protocolID == SecurityProtocol.esp.rawValue, notify.spi.count == 4 else {
            throw IKEProtocolError.invalidPayload("REKEY_SA names no ESP SPI")
        }
        // The peer names its inbound SPI, which is this side's outbound one.
        let spi = notify.spi.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard let old = sa.childSAs.first(where: { $0.outboundSPI == spi }) else {
            throw IKEProtocolError.childSANotFound("0x" + String(spi, radix: 16))
        }
        return old.inboundSPI
    }

    private func hexList(_ spis: [UInt32]) -> String {
        spis.map { "0x" + String($0, radix: 16) }.joined(separator: ", ")
    }
}
