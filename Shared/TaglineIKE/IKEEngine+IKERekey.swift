// IKE SA rekeying (RFC 7296 §1.3.2, §2.8, §2.18), on the old IKE SA:
//
//   HDR, SK {SA, Ni, KEi}  -->
//                      <--  HDR, SK {SA, Nr, KEr}
//   HDR, SK {D(IKE)}  -->
//                      <--  HDR, SK {}
//
// Each SA proposal carries the sender's new SPI. The new IKE SA's keys come
// from SK_d of the old one, its initiator is the side that started the
// rekey, and its message IDs start at 0. Every Child SA moves to it with its
// tagging decision, because CREATE_CHILD_SA carries no Vendor ID. The
// rekey's initiator then deletes the old IKE SA. In a collision, where both
// sides rekeyed at once, the new SA made with the lowest of the four nonces
// is deleted by the side that initiated it (RFC 7296 §2.8.2).

import TaglineCore
import TaglineCrypto

/// An error notify with which the peer rejected this side's IKE SA rekey.
struct RekeyRejectedError: Error, CustomStringConvertible {
    var notify: NotifyType
    var description: String { "rejected by peer with \(notify)" }
}

extension IKEEngine {
    // MARK: Starting a rekey

    /// Rekeys the IKE SA with `tunnelID` as soon as it has no other exchange
    /// in flight. Returns false when there is no such established SA.
    @discardableResult
    public func rekeyIKESA(tunnelID: Int) -> Bool {
        guard
            var sa = ikeSAs.values.first(where: {
                $0.tunnelID == tunnelID && $0.phase == .established && $0.replacedBySPI == nil
            })
        else { return false }
        sa.rekeyAt = clock()
        ikeSAs[sa.localSPI] = sa
        startNextChildWork(localSPI: sa.localSPI)
        return true
    }

    /// Starts the rekey of an idle IKE SA whose rekey time has passed.
    /// Returns true when the request was sent.
    func startIKERekeyIfDue(localSPI: UInt64) -> Bool {
        guard let sa = ikeSAs[localSPI], sa.phase == .established, sa.replacedBySPI == nil,
            sa.pendingIKERekey == nil, sa.outstanding == nil, sa.pendingChild == nil,
            let due = sa.rekeyAt, due <= clock()
        else { return false }
        return startIKERekey(localSPI: localSPI, group: nil, keRetried: false)
    }

    /// Returns the IKE proposals of a rekey request naming `newSPI`: the
    /// configured ones, or without any, the SA's own algorithms.
    func ikeRekeyProposals(
        _ sa: IKESAState, algorithms: IKEAlgorithms, newSPI: UInt64
    ) -> [Proposal] {
        let spi = ProposalSelection.spiBytes(newSPI)
        let proposals = ProposalSelection.ikeProposals(
            config.proposals(forLocal: sa.local.address), spi: spi)
        return proposals.isEmpty ? [ProposalSelection.ikeProposal(algorithms, spi: spi)] : proposals
    }

    /// Rebuilds the DH key pair and the offered proposals of a restored SA's
    /// outstanding rekey requests, so that their responses can still be used.
    /// The proposals come from the configuration as it is now.
    func restorePendingExchanges(_ sa: IKESAState) {
        if let pending = sa.pendingIKERekey, let key = pending.dhPrivateKey,
            let algorithms = sa.algorithms
        {
            do {
                pendingRekeyDH[sa.localSPI] = try DiffieHellman(
                    group: pending.group, privateKey: key.bytes)
                offeredRekeyProposals[sa.localSPI] = ikeRekeyProposals(
                    sa, algorithms: algorithms, newSPI: pending.newSPI)
            } catch {
                log(.warning, "\(sa.remote.address): saved IKE SA rekey key unusable: \(error)")
            }
        }
        if let pending = sa.pendingChild, let group = pending.pfsGroup,
            let key = pending.dhPrivateKey
        {
            do {
                pendingChildDH[sa.localSPI] = try DiffieHellman(group: group, privateKey: key.bytes)
            } catch {
                log(.warning, "\(sa.remote.address): saved PFS key unusable: \(error)")
            }
        }
    }

    /// Sends the rekey request: the configured IKE proposals (or, without
    /// any, the SA's own algorithms) with a new SPI, Ni and KEi. The KE group
    /// is `group`, else the SA's current group when offered, else the first offered.
    func startIKERekey(localSPI: UInt64, group requested: DHGroup?, keRetried: Bool) -> Bool {
        guard var sa = ikeSAs[localSPI], let keys = sa.sendKeys, let algorithms = sa.algorithms
        else { return false }
        let newSPI = newLocalSPI()
        let proposals = ikeRekeyProposals(sa, algorithms: algorithms, newSPI: newSPI)
        let offered = proposals.flatMap {
            $0.transforms(of: .diffieHellman).compactMap { DHGroup(rawValue: $0.id) }
        }
        let group =
            requested ?? (offered.contains(algorithms.dhGroup) ? algorithms.dhGroup : offered[0])

        let dh: DiffieHellman
        let privateKey: SecretBytes
        do {
            dh = try DiffieHellman(group: group)
            privateKey = try dh.exportPrivateKey()
        } catch {
            log(.error, "\(sa.remote.address): DH group \(group.rawValue) failed: \(error)")
            sa.rekeyAt = clock() + randomRetryDelay()
            ikeSAs[localSPI] = sa
            return false
        }

        let nonce = random(IKEEngine.nonceLength)
        pendingRekeyDH[localSPI] = dh
        offeredRekeyProposals[localSPI] = proposals
        sa.pendingIKERekey = PendingIKERekey(
            newSPI: newSPI, nonce: nonce, group: group, keRetried: keRetried,
            dhPrivateKey: privateKey)
        let payloads: [IKEPayload] = [
            .securityAssociation(SAPayload(proposals: proposals)),
            .nonce(NoncePayload(nonce: nonce)),
            .keyExchange(KEPayload(group: group, keyExchangeData: dh.publicValue)),
        ]
        debug("IKEv2:(\(sa.tunnelID)): Sending CREATE_CHILD_SA request to rekey the IKE SA")
        guard sendRequest(.createChildSA, payloads, &sa, keys: keys) else {
            sa.pendingIKERekey = nil
            sa.rekeyAt = clock() + randomRetryDelay()
            ikeSAs[localSPI] = sa
            return false
        }
        return true
    }

    // MARK: Responder

    /// Responds to the peer's request to rekey this IKE SA. The Child SAs
    /// move to the new SA at once, unless this side's own rekey is out: then
    /// they wait until the collision is resolved.
    func respondToIKERekey(_ message: IKEMessage, _ sa: inout IKESAState) {
        let peer = sa.remote.address
        let messageID = message.header.messageID
        guard let sendKeys = sa.sendKeys, let oldAlgorithms = sa.algorithms, let oldKeys = sa.keys
        else { return }
        func reject(_ error: IKEProtocolError) {
            // TEMPORARY_FAILURE is routine: the peer tries again shortly.
            let level: LogLevel = error.notifyType == .temporaryFailure ? .info : .warning
            log(level, "\(peer): IKE SA rekey rejected: \(error)")
            sendResponse(
                .createChildSA, messageID: messageID, [.notify(error.notifyPayload)], &sa,
                keys: sendKeys)
        }
        // Child SAs must not move while one of them is being created, rekeyed
        // or deleted (RFC 7296 §2.25).
        guard sa.pendingChild == nil, sa.pendingChildDeletes == nil, sa.replacedBySPI == nil else {
            return reject(.temporaryFailure("a Child SA exchange is in progress"))
        }
        guard let offered = message.securityAssociation, let ke = message.keyExchange,
            let nonce = message.nonce, (try? nonce.validate()) != nil
        else {
            return reject(.missingPayload("SA, Ni or KEi"))
        }
        guard
            let (algorithms, proposal) = ProposalSelection.chooseIKE(
                offered: offered.proposals,
                configured: config.proposals(forLocal: sa.local.address),
                keGroup: ke.groupNumber, spiLength: 8)
        else {
            return reject(.noProposalChosen("no acceptable IKE proposal"))
        }
        guard ke.groupNumber == algorithms.dhGroup.rawValue else {
            return reject(.invalidKEPayload(expected: algorithms.dhGroup))
        }
        guard
            let peerSPI = offered.proposals.first(where: { $0.number == proposal.number })
                .map({ $0.spi.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }), peerSPI != 0
        else {
            return reject(.invalidPayload("IKE proposal without an SPI"))
        }

        let newSPI = newLocalSPI()
        let responderNonce = random(IKEEngine.nonceLength)
        let dh: DiffieHellman
        let newKeys: IKESAKeys
        do {
            try ke.validate()
            dh = try DiffieHellman(group: algorithms.dhGroup)
            let secret = try dh.computeSharedSecret(peerPublicValue: ke.keyExchangeData)
            newKeys = try IKESAKeys.deriveRekeyed(
                oldPRF: oldAlgorithms.prf, oldDerivationKey: oldKeys.derivation.bytes,
                prf: algorithms.prf, encryption: algorithms.encryption,
                integrity: algorithms.integrity, sharedSecret: secret,
                initiatorNonce: nonce.nonce, responderNonce: responderNonce,
                initiatorSPI: peerSPI, responderSPI: newSPI)
        } catch let error as IKEProtocolError {
            return reject(error)
        } catch {
            return reject(.invalidPayload("KEi: \(error)"))
        }
        var successor = makeSuccessor(
            of: sa, isInitiator: false, initiatorSPI: peerSPI, responderSPI: newSPI,
            algorithms: algorithms, keys: newKeys, initiatorNonce: nonce.nonce,
            responderNonce: responderNonce)
        var chosen = proposal
        chosen.spi = ProposalSelection.spiBytes(newSPI)
        sendResponse(
            .createChildSA, messageID: messageID,
            [
                .securityAssociation(SAPayload(proposals: [chosen])),
                .nonce(NoncePayload(nonce: responderNonce)),
                .keyExchange(KEPayload(group: algorithms.dhGroup, keyExchangeData: dh.publicValue)),
            ], &sa, keys: sendKeys)
        ikeSAs[newSPI] = successor

        if var pending = sa.pendingIKERekey {
            log(.info, "\(peer): both sides rekeyed IKE SA \(sa.tunnelID) at once")
            pending.collision = IKERekeyCollision(
                peerNonce: nonce.nonce, ourResponseNonce: responderNonce, createdSPI: newSPI)
            sa.pendingIKERekey = pending
            ikeSAs[sa.localSPI] = sa
            return
        }
        // The peer deletes the old SA, which until then only responds to requests.
        moveChildren(from: &sa, to: &successor)
    }

    // MARK: Initiator

    /// Handles the response to this side's IKE SA rekey request.
    func handleIKERekeyResponse(_ message: IKEMessage, _ sa: inout IKESAState) {
        guard let pending = sa.pendingIKERekey else { return }
        let peer = sa.remote.address
        sa.pendingIKERekey = nil
        let dh = pendingRekeyDH.removeValue(forKey: sa.localSPI)
        let offered = offeredRekeyProposals.removeValue(forKey: sa.localSPI) ?? []
        ikeSAs[sa.localSPI] = sa

        // INVALID_KE_PAYLOAD: once more with the requested group, if it was offered.
        if let notify = message.notify(.invalidKEPayload), pending.collision == nil,
            pending.keRetried != true, notify.data.count == 2
        {
            let raw = UInt16(notify.data[0]) << 8 | UInt16(notify.data[1])
            let groups = offered.flatMap { $0.transforms(of: .diffieHellman).map(\.id) }
            if let group = DHGroup(rawValue: raw), group != pending.group, groups.contains(raw) {
                log(.info, "\(peer): peer asked for DH group \(raw), rekeying the IKE SA again")
                _ = startIKERekey(localSPI: sa.localSPI, group: group, keRetried: true)
                return
            }
        }

        // TEMPORARY_FAILURE: the peer is busy with a Child SA exchange (RFC 7296 §2.25).
        if message.notify(.temporaryFailure) != nil, pending.collision == nil {
            log(.info, "\(peer): IKE SA rekey got TEMPORARY_FAILURE, trying again later")
            sa.rekeyAt = clock() + randomRetryDelay()
            ikeSAs[sa.localSPI] = sa
            startNextChildWork(localSPI: sa.localSPI)
            return
        }

        let successor: IKESAState
        do {
            successor = try completeIKERekey(message, pending, dh, offered, sa)
        } catch PFSError.privateValueLost {
            // Only a state saved without the DH private key gets here, such as
            // one from an older version. The peer moved its Child SAs to a new
            // IKE SA whose keys this side cannot derive, so deleting the old SA
            // lets the target start over.
            // NOTE: the peer keeps that new IKE SA until its own rekey or Delete times out.
            log(
                .warning, "\(peer): IKE SA rekey response arrived after a restart lost its DH value"
            )
            return beginDelete(localSPI: sa.localSPI, reason: "IKE SA rekey lost in a restart")
        } catch {
            log(.warning, "\(peer): IKE SA \(sa.tunnelID) rekey failed: \(error)")
            if let collision = pending.collision, var created = ikeSAs[collision.createdSPI] {
                // The peer's rekey succeeded, so its new SA is the only one.
                moveChildren(from: &sa, to: &created)
                startNextChildWork(localSPI: created.localSPI)
                return
            }
            sa.rekeyAt = clock() + randomRetryDelay()
            ikeSAs[sa.localSPI] = sa
            startNextChildWork(localSPI: sa.localSPI)
            return
        }
        var ours = successor
        ikeSAs[ours.localSPI] = ours

        if let collision = pending.collision, var theirs = ikeSAs[collision.createdSPI],
            let responderNonce = message.nonce?.nonce
        {
            let own = [pending.nonce, responderNonce]
            let other = [collision.peerNonce, collision.ourResponseNonce]
            let lowest = (own + other).min { $0.lexicographicallyPrecedes($1) }
            if let lowest, own.contains(lowest) {
                // This side's new SA is redundant: it deletes it, and the peer
                // deletes the old SA.
                log(.info, "\(peer): IKE SA rekey collision, deleting the redundant new IKE SA")
                moveChildren(from: &sa, to: &theirs)
                ours.replacedBySPI = theirs.localSPI
                ikeSAs[ours.localSPI] = ours
                deleteReplacedIKESA(localSPI: ours.localSPI)
                startNextChildWork(localSPI: theirs.localSPI)
                return
            }
            // The peer deletes the SA it initiated; this side deletes the old one.
            theirs.replacedBySPI = ours.localSPI
            ikeSAs[theirs.localSPI] = theirs
        }
        moveChildren(from: &sa, to: &ours)
        deleteReplacedIKESA(localSPI: sa.localSPI)
        startNextChildWork(localSPI: ours.localSPI)
    }

    /// Checks the rekey response and derives the new SA. Throws for an error
    /// notify, a missing or unacceptable payload, and
    /// `PFSError.privateValueLost` when the DH private value is gone.
    private func completeIKERekey(
        _ message: IKEMessage, _ pending: PendingIKERekey, _ dh: DiffieHellman?,
        _ offered: [Proposal], _ sa: IKESAState
    ) throws -> IKESAState {
        if let error = message.errorNotify {
            throw RekeyRejectedError(notify: error.type)
        }
        guard let saPayload = message.securityAssociation else {
            throw IKEProtocolError.missingPayload("SA")
        }
        guard let ke = message.keyExchange else { throw IKEProtocolError.missingPayload("KEr") }
        guard let nonce = message.nonce else { throw IKEProtocolError.missingPayload("Nr") }
        try nonce.validate()
        guard let dh, !offered.isEmpty else { throw PFSError.privateValueLost }

        // The chosen proposal and the peer's new SPI.
        guard let chosen = saPayload.proposals.first, chosen.spi.count == 8 else {
            throw IKEProtocolError.noProposalChosen("responder returned no 8-byte SPI")
        }
        let peerSPI = chosen.spi.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard peerSPI != 0 else { throw IKEProtocolError.invalidPayload("responder SPI is zero") }
        // The offered proposals carry this side's SPI, the response the peer's.
        let comparable = offered.map { proposal -> Proposal in
            var copy = proposal
            copy.spi = []
            return copy
        }
        var response = saPayload
        response.proposals = response.proposals.map { proposal -> Proposal in
            var copy = proposal
            copy.spi = []
            return copy
        }
        let algorithms = try ProposalSelection.acceptIKE(response: response, offered: comparable)

        // The DH exchange and the keys, from SK_d of the old SA.
        guard ke.groupNumber == algorithms.dhGroup.rawValue, dh.group == algorithms.dhGroup else {
            throw IKEProtocolError.invalidKEPayload(expected: pending.group)
        }
        try ke.validate()
        guard let oldAlgorithms = sa.algorithms, let oldKeys = sa.keys else {
            throw IKEProtocolError.invalidPayload("IKE SA has no keys")
        }
        let secret: [UInt8]
        do {
            secret = try dh.computeSharedSecret(peerPublicValue: ke.keyExchangeData)
        } catch {
            throw IKEProtocolError.invalidPayload("KEr: \(error)")
        }
        let keys = try IKESAKeys.deriveRekeyed(
            oldPRF: oldAlgorithms.prf, oldDerivationKey: oldKeys.derivation.bytes,
            prf: algorithms.prf, encryption: algorithms.encryption,
            integrity: algorithms.integrity, sharedSecret: secret,
            initiatorNonce: pending.nonce, responderNonce: nonce.nonce,
            initiatorSPI: pending.newSPI, responderSPI: peerSPI)
        return makeSuccessor(
            of: sa, isInitiator: true, initiatorSPI: pending.newSPI, responderSPI: peerSPI,
            algorithms: algorithms, keys: keys, initiatorNonce: pending.nonce,
            responderNonce: nonce.nonce)
    }

    // MARK: Moving to the new SA

    /// Builds the established IKE SA that a rekey of `old` creates. It keeps
    /// the old SA's peer, identities, NAT state, fragmentation support and tagging decision, and
    /// takes its lifetime from the profile as configured now.
    func makeSuccessor(
        of old: IKESAState, isInitiator: Bool, initiatorSPI: UInt64, responderSPI: UInt64,
        algorithms: IKEAlgorithms, keys: IKESAKeys, initiatorNonce: [UInt8],
        responderNonce: [UInt8]
    ) -> IKESAState {
        let now = clock()
        var sa = IKESAState(
            tunnelID: allocateTunnelID(), isInitiator: isInitiator, initiatorSPI: initiatorSPI,
            responderSPI: responderSPI, local: old.local, remote: old.remote,
            phase: .established, createdAt: now)
        sa.algorithms = algorithms
        sa.keys = keys
        sa.initiatorNonce = initiatorNonce
        sa.responderNonce = responderNonce
        sa.taggingNegotiated = old.taggingNegotiated
        sa.sentSGTVendorID = old.sentSGTVendorID
        sa.nat = old.nat
        // A rekey has no IKE_SA_INIT, so the fragmentation support negotiated
        // there carries over.
        sa.fragmentationNegotiated = old.fragmentationNegotiated
        sa.profileName = old.profileName
        sa.localID = old.localID
        sa.remoteID = old.remoteID
        let profile = old.profileName.flatMap { config.ikev2Profiles[$0] }
        sa.lifetimeSeconds = profile.map { Int($0.lifetimeSeconds) } ?? old.lifetimeSeconds
        sa.establishedAt = now
        scheduleIKELifetime(&sa)
        return sa
    }

    /// Moves the Child SAs, the work queued for them and the targets of `old`
    /// to `new`, and reports the moved Child SAs to the delegate. `old` then
    /// only waits for its Delete.
    func moveChildren(from old: inout IKESAState, to new: inout IKESAState) {
        let moved = old.childSAs.map { child -> ChildSA in
            var copy = child
            copy.ikeSAName = new.name
            return copy
        }
        new.childSAs += moved
        new.queuedChildren += old.queuedChildren
        new.queuedRekeys = merged(new.queuedRekeys, old.queuedRekeys)
        new.queuedChildDeletes = merged(new.queuedChildDeletes, old.queuedChildDeletes)
        new.replacedChildSPIs = merged(new.replacedChildSPIs, old.replacedChildSPIs)
        if let due = old.childWorkDueAt {
            new.childWorkDueAt = min(new.childWorkDueAt ?? due, due)
        }
        new.targetKey = old.targetKey ?? new.targetKey
        new.replacedBySPI = nil

        old.childSAs = []
        old.queuedChildren = []
        old.queuedRekeys = nil
        old.queuedChildDeletes = nil
        old.replacedChildSPIs = nil
        old.childWorkDueAt = nil
        old.targetKey = nil
        old.replacedBySPI = new.localSPI
        for key in targets.keys where targets[key]?.ikeSPI == old.localSPI {
            targets[key]?.ikeSPI = new.localSPI
        }
        ikeSAs[old.localSPI] = old
        ikeSAs[new.localSPI] = new

        log(
            .notice,
            "\(new.remote.address): IKE SA \(old.tunnelID) rekeyed as IKE SA \(new.tunnelID), "
                + "\(moved.count) Child SAs moved")
        debug("IKEv2:(\(new.tunnelID)): IKE SA rekeyed, replacing IKE SA \(old.tunnelID)")
        if !moved.isEmpty { delegate?.engine(self, moved: moved) }
        delegate?.engine(self, ikeSAChanged: status(of: new), up: true)
    }

    private func merged(_ first: [UInt32]?, _ second: [UInt32]?) -> [UInt32]? {
        guard first != nil || second != nil else { return nil }
        var result = first ?? []
        for spi in second ?? [] where !result.contains(spi) { result.append(spi) }
        return result
    }

    /// Sends the Delete for an IKE SA that a rekey replaced. Its Child SAs
    /// have moved, so nothing else goes; the SA is removed when the peer responds.
    func deleteReplacedIKESA(localSPI: UInt64) {
        guard var sa = ikeSAs[localSPI] else { return }
        guard sa.outstanding == nil, let keys = sa.sendKeys else {
            return removeIKESA(localSPI: localSPI, reason: "replaced by a rekey")
        }
        sa.phase = .deleting
        debug("IKEv2:(\(sa.tunnelID)): Sending Delete for the IKE SA a rekey replaced")
        sendRequest(.informational, [.delete(.ikeSA)], &sa, keys: keys)
    }

    /// Called before the peer's Delete removes this IKE SA. In a rekey
    /// collision whose response has not arrived, the Delete shows that the SA
    /// created by responding survived, so the Child SAs move there first.
    func settleRekeyBeforeDelete(_ sa: inout IKESAState) {
        guard let collision = sa.pendingIKERekey?.collision,
            var created = ikeSAs[collision.createdSPI]
        else { return }
        moveChildren(from: &sa, to: &created)
        startNextChildWork(localSPI: created.localSPI)
    }
}
