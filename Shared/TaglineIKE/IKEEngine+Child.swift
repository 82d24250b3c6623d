// Child SA negotiation, shared by IKE_AUTH and CREATE_CHILD_SA (RFC 7296
// §1.3.1, §2.17):
//
//   HDR, SK {SA, Ni, [KEi], TSi, TSr}  -->
//                      <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
//
// KE payloads carry the PFS exchange of `set pfs` (IKEEngine+PFS.swift).
// Rekeying an existing Child SA adds N(REKEY_SA) to the request; the old
// pair is deleted with an INFORMATIONAL exchange afterwards.

import TaglineConfig
import TaglineCore

extension IKEEngine {
    /// Chooses policy, proposal and SPI for a Child SA the peer proposed, and
    /// derives its keys. Returns the Child SA and the payloads of the response:
    /// SA, KEr with PFS, TSi and TSr. `isCreateChild` is false in IKE_AUTH,
    /// whose Child SA never has PFS. With `rejectsDuplicate`, a request for the
    /// selectors of a Child SA that the IKE SA already has is rejected (see `duplicateOf`).
    func negotiateChildAsResponder(
        _ message: IKEMessage, _ sa: IKESAState, profile: IKEv2Profile?,
        initiatorNonce: [UInt8], responderNonce: [UInt8], isCreateChild: Bool = false,
        rejectsDuplicate: Bool = false
    ) throws -> (ChildSA, [IKEPayload]) {
        guard let offered = message.securityAssociation else {
            throw IKEProtocolError.missingPayload("SA")
        }
        guard let tsi = message.initiatorSelectors, let tsr = message.responderSelectors else {
            throw IKEProtocolError.missingPayload("TS")
        }
        guard
            let policy = config.responderPolicy(
                localAddress: sa.local.address, remoteAddress: sa.remote.address,
                remoteIdentity: IPAddress(sa.remoteID), profile: profile,
                proposedLocal: tsr.selectors, proposedRemote: tsi.selectors)
        else {
            throw IKEProtocolError.trafficSelectorsUnacceptable(
                "no crypto map or tunnel covers TSi \(tsi.selectors) TSr \(tsr.selectors)")
        }
        if rejectsDuplicate, let existing = duplicateOf(policy, sa) {
            throw DuplicateChildSA(existing: existing, cryptoMapName: policy.cryptoMapName)
        }
        let dh = try pfsRequirement(
            keyExchange: isCreateChild ? message.keyExchange : nil, policy: policy,
            isCreateChild: isCreateChild)
        guard
            let selection = ProposalSelection.chooseESP(
                offered: offered.proposals, transforms: policy.transforms, ourSPI: 0, dh: dh,
                prefersExtendedSequenceNumbers: config.extendedSequenceNumbers)
        else {
            throw IKEProtocolError.noProposalChosen(
                "no transform set of \(policy.cryptoMapName ?? "the policy") matches")
        }
        // KEi is checked before an SPI is allocated for a request that fails.
        let exchange = try responderPFSExchange(dh, keyExchange: message.keyExchange)
        guard let inboundSPI = delegate?.engineAllocateInboundSPI(self) else {
            throw IKEProtocolError.temporaryFailure("no inbound SPI available")
        }
        let (transform, peerSPI, proposal, usesESN) = selection
        var chosen = proposal
        chosen.spi = ProposalSelection.spiBytes(inboundSPI)

        // The responder's view: its local side is TSr, the peer's is TSi.
        let child = try makeChildSA(
            sa, policy: policy, transform: transform, inboundSPI: inboundSPI,
            outboundSPI: peerSPI, localSelectors: policy.localSelectors,
            remoteSelectors: policy.remoteSelectors, isExchangeInitiator: false,
            initiatorNonce: initiatorNonce, responderNonce: responderNonce,
            pfsSharedSecret: exchange?.secret, pfsGroup: exchange?.payload.group,
            extendedSequenceNumbers: usesESN)
        var payloads: [IKEPayload] = [.securityAssociation(SAPayload(proposals: [chosen]))]
        if let exchange { payloads.append(.keyExchange(exchange.payload)) }
        payloads += [
            .trafficSelectorInitiator(TSPayload(selectors: policy.remoteSelectors)),
            .trafficSelectorResponder(TSPayload(selectors: policy.localSelectors)),
        ]
        return (child, payloads)
    }

    /// Returns the inbound SPI of a Child SA, installed or being created by this side, that
    /// already carries the selectors of `policy` on `sa`. Both gateways create the Child SA
    /// of an entry they share when the request of the gateway that should create it arrives
    /// after `adoptedChildDelay`: lost three times, or delayed by a rekey of the IKE SA.
    /// They also do when both requests cross. The request for the second pair is rejected.
    /// A pending request counts only on the gateway with the higher address, so that of two
    /// crossing requests the one from the higher address is accepted.
    func duplicateOf(_ policy: ChildPolicy, _ sa: IKESAState, countsPending: Bool = true)
        -> UInt32?
    {
        func carries(_ local: [TrafficSelector], _ remote: [TrafficSelector]) -> Bool {
            policy.localSelectors.allSatisfy { selector in
                local.contains { selector.isSubset(of: $0) }
            }
                && policy.remoteSelectors.allSatisfy { selector in
                    remote.contains { selector.isSubset(of: $0) }
                }
        }
        let replaced = sa.replacedChildSPIs ?? []
        if let child = sa.childSAs.first(where: {
            !replaced.contains($0.inboundSPI) && carries($0.localSelectors, $0.remoteSelectors)
        }) {
            return child.inboundSPI
        }
        if countsPending, sa.local.address > sa.remote.address, let pending = sa.pendingChild,
            pending.rekeyedInboundSPI == nil,
            carries(pending.initiatorSelectors, pending.responderSelectors)
        {
            return pending.inboundSPI
        }
        return nil
    }

    /// Reads the responder's SA and TS payloads for the Child SA this side
    /// proposed and installs it. A Child SA that the peer rejected is logged and skipped.
    func completeChildAsInitiator(
        _ message: IKEMessage, _ pending: PendingChildSA, _ sa: inout IKESAState,
        initiatorNonce: [UInt8], responderNonce: [UInt8]
    ) {
        let peer = sa.remote.address
        if let error = message.errorNotify {
            log(
                .warning,
                "\(peer): Child SA for \(pending.policy.cryptoMapName ?? "-") "
                    + "rejected by peer: \(error.type)")
            return
        }
        do {
            guard let saPayload = message.securityAssociation else {
                throw IKEProtocolError.missingPayload("SA")
            }
            guard let tsi = message.initiatorSelectors, let tsr = message.responderSelectors
            else { throw IKEProtocolError.missingPayload("TS") }
            // The responder may only narrow what was proposed (RFC 7296 §2.9).
            let narrowed =
                tsi.selectors.allSatisfy { selector in
                    pending.initiatorSelectors.contains { selector.isSubset(of: $0) }
                }
                && tsr.selectors.allSatisfy { selector in
                    pending.responderSelectors.contains { selector.isSubset(of: $0) }
                }
            guard narrowed else {
                throw IKEProtocolError.trafficSelectorsUnacceptable("responder widened the TS")
            }
            let (transform, peerSPI, usesESN) = try ProposalSelection.acceptESP(
                response: saPayload, offered: pending.policy.transforms,
                pfsGroup: pending.pfsGroup,
                offeredExtendedSequenceNumbers: pending.offeredExtendedSequenceNumbers ?? false)
            let secret = try initiatorPFSSecret(message, pending, sa)
            let child = try makeChildSA(
                sa, policy: pending.policy, transform: transform, inboundSPI: pending.inboundSPI,
                outboundSPI: peerSPI, localSelectors: tsi.selectors,
                remoteSelectors: tsr.selectors, isExchangeInitiator: true,
                initiatorNonce: initiatorNonce, responderNonce: responderNonce,
                pfsSharedSecret: secret, pfsGroup: pending.pfsGroup,
                extendedSequenceNumbers: usesESN)
            installChild(child, &sa)
        } catch PFSError.privateValueLost {
            discardUnusableChild(pending, message, &sa)
        } catch {
            log(.warning, "\(peer): Child SA not created: \(error)")
        }
    }

    /// Derives the keys and fills in a Child SA pair.
    func makeChildSA(
        _ sa: IKESAState, policy: ChildPolicy, transform: ESPTransform, inboundSPI: UInt32,
        outboundSPI: UInt32, localSelectors: [TrafficSelector],
        remoteSelectors: [TrafficSelector], isExchangeInitiator: Bool,
        initiatorNonce: [UInt8], responderNonce: [UInt8], pfsSharedSecret: [UInt8]? = nil,
        pfsGroup: DHGroup? = nil, extendedSequenceNumbers: Bool = false
    ) throws -> ChildSA {
        guard let keys = sa.keys, let algorithms = sa.algorithms else {
            throw IKEProtocolError.invalidPayload("IKE SA has no keys")
        }
        let material = try ChildSAKeyMaterial.derive(
            prf: algorithms.prf, derivationKey: keys.derivation.bytes,
            encryption: transform.encryption, integrity: transform.integrity,
            pfsSharedSecret: pfsSharedSecret, initiatorNonce: initiatorNonce,
            responderNonce: responderNonce)
        let inbound =
            isExchangeInitiator
            ? material.responderToInitiator : material.initiatorToResponder
        let outbound =
            isExchangeInitiator
            ? material.initiatorToResponder : material.responderToInitiator
        let encapsulation =
            sa.nat?.isDetected == true
            ? UDPEncapsulation(localPort: sa.local.port, remotePort: sa.remote.port) : nil
        var child = ChildSA(
            inboundSPI: inboundSPI, outboundSPI: outboundSPI, ikeSAName: sa.name,
            localAddress: sa.local.address, remoteAddress: sa.remote.address,
            udpEncapsulation: encapsulation, localSelectors: localSelectors,
            remoteSelectors: remoteSelectors, encryption: transform.encryption,
            integrity: transform.integrity, inboundKeys: inbound, outboundKeys: outbound,
            taggingNegotiated: sa.taggingNegotiated, cryptoMapName: policy.cryptoMapName,
            interfaceName: policy.interfaceName, transformDescription: transform.description,
            installedAt: clock(), lifetimeSeconds: policy.lifetime,
            lifetimeKilobytes: policy.lifetimeKilobytes, pfsGroup: pfsGroup ?? policy.pfsGroup)
        child.extendedSequenceNumbers = extendedSequenceNumbers ? true : nil
        return child
    }

    /// Hands a Child SA to the delegate and records it on its IKE SA.
    func installChild(_ child: ChildSA, _ sa: inout IKESAState) {
        sa.childSAs.append(child)
        ikeSAs[sa.localSPI] = sa
        let tagging = child.taggingNegotiated ? ", inline tagging negotiated" : ""
        let esn = child.usesExtendedSequenceNumbers ? ", ESN" : ""
        let inbound = "0x" + String(child.inboundSPI, radix: 16)
        let outbound = "0x" + String(child.outboundSPI, radix: 16)
        log(
            .notice,
            "\(sa.remote.address): Child SA up, in SPI \(inbound) out SPI \(outbound) "
                + "(\(child.transformDescription)\(esn)\(tagging))")
        debug("IKEv2:(\(sa.tunnelID)): Child SA installed, SPI in \(inbound) out \(outbound)")
        delegate?.engine(self, install: child)
    }

    /// Starts CREATE_CHILD_SA for the next queued policy of an established SA.
    func createNextChild(localSPI: UInt64) {
        guard var sa = ikeSAs[localSPI], sa.phase == .established, sa.outstanding == nil,
            sa.pendingChild == nil, !sa.queuedChildren.isEmpty, let keys = sa.sendKeys
        else { return }
        let policy = sa.queuedChildren.removeFirst()
        // The peer may have created it meanwhile, while this request waited out a
        // TEMPORARY_FAILURE or a rekey of the IKE SA.
        if let existing = duplicateOf(policy, sa, countsPending: false) {
            debug(
                "IKEv2:(\(sa.tunnelID)): Child SA 0x\(String(existing, radix: 16)) already "
                    + "carries \(policy.cryptoMapName ?? "-"), not creating another")
            ikeSAs[localSPI] = sa
            return createNextChild(localSPI: localSPI)
        }
        guard let inboundSPI = delegate?.engineAllocateInboundSPI(self) else {
            log(.warning, "\(sa.remote.address): no inbound SPI available for a further Child SA")
            ikeSAs[localSPI] = sa
            return
        }
        let pending = PendingChildSA(
            inboundSPI: inboundSPI, policy: policy, initiatorSelectors: policy.localSelectors,
            responderSelectors: policy.remoteSelectors, pfsGroup: policy.pfsGroup)
        debug("IKEv2:(\(sa.tunnelID)): Sending CREATE_CHILD_SA request to \(sa.remote)")
        sendChildRequest(pending, &sa, keys: keys)
    }

    /// Handles the CREATE_CHILD_SA response for the pending Child SA, then starts the next one.
    func handleCreateChildResponse(_ message: IKEMessage, _ sa: inout IKESAState) {
        sa.outstanding = nil
        if sa.pendingIKERekey != nil {
            return handleIKERekeyResponse(message, &sa)
        }
        guard let pending = sa.pendingChild else {
            ikeSAs[sa.localSPI] = sa
            return
        }
        sa.pendingChild = nil
        if retryChildWithRequestedGroup(message, pending, &sa)
            || retryChildAfterTemporaryFailure(message, pending, &sa)
        {
            return
        }
        var responderNonce: [UInt8]?
        if let error = message.errorNotify, pending.rekeyedInboundSPI == nil,
            let existing = duplicateOf(pending.policy, sa)
        {
            // Both gateways created this entry's Child SA, and the peer rejected the second.
            log(
                .info,
                "\(sa.remote.address): peer rejected a second Child SA for "
                    + "\(pending.policy.cryptoMapName ?? "-") (\(error.type)); "
                    + "Child SA 0x\(String(existing, radix: 16)) carries it")
        } else if let nonce = message.nonce, (try? nonce.validate()) != nil {
            responderNonce = nonce.nonce
            completeChildAsInitiator(
                message, pending, &sa, initiatorNonce: pending.nonce, responderNonce: nonce.nonce)
        } else {
            let reason = message.errorNotify.map { "\($0.type)" } ?? "no valid Nr payload"
            log(.warning, "\(sa.remote.address): Child SA rejected by peer: \(reason)")
        }
        pendingChildDH[sa.localSPI] = nil
        if pending.rekeyedInboundSPI != nil {
            finishRekey(pending, responderNonce: responderNonce, &sa)
        } else if sa.childSAs.isEmpty, sa.queuedChildren.isEmpty, let key = sa.targetKey {
            // An initiator that cannot get a Child SA any more starts over with
            // a new IKE SA, after the usual back-off.
            ikeSAs[sa.localSPI] = sa
            log(.warning, "\(sa.remote.address): no Child SA left, initiating a new IKE SA")
            beginDelete(localSPI: sa.localSPI, reason: "no Child SA")
            backOff(targetKey: key)
            return
        }
        ikeSAs[sa.localSPI] = sa
        startNextChildWork(localSPI: sa.localSPI)
    }

    /// Responds to CREATE_CHILD_SA for a new or rekeyed Child SA.
    func respondToCreateChild(_ message: IKEMessage, _ sa: inout IKESAState) {
        let peer = sa.remote.address
        let messageID = message.header.messageID
        guard let sendKeys = sa.sendKeys else { return }
        func reject(_ notify: NotifyType, _ reason: String) {
            // TEMPORARY_FAILURE is routine: the peer tries again shortly.
            let level: LogLevel = notify == .temporaryFailure ? .info : .warning
            log(level, "\(peer): CREATE_CHILD_SA rejected: \(reason)")
            sendResponse(
                .createChildSA, messageID: messageID,
                [.notify(NotifyPayload(type: notify))], &sa, keys: sendKeys)
        }
        if let offered = message.securityAssociation,
            offered.proposals.contains(where: { $0.securityProtocol == .ike })
        {
            return respondToIKERekey(message, &sa)
        }
        // While the IKE SA is being rekeyed, or was just replaced, its Child SAs
        // are moving, so a Child SA exchange must wait (RFC 7296 §2.25).
        if sa.pendingIKERekey != nil || sa.replacedBySPI != nil {
            return reject(.temporaryFailure, "the IKE SA is being rekeyed")
        }
        guard let nonce = message.nonce, (try? nonce.validate()) != nil else {
            return reject(.invalidSyntax, "missing or invalid Ni payload")
        }
        let profile = sa.profileName.flatMap { config.ikev2Profiles[$0] }
        let responderNonce = random(IKEEngine.nonceLength)
        do {
            let rekeyed = try rekeyedChild(of: message, sa)
            var (child, payloads) = try negotiateChildAsResponder(
                message, sa, profile: profile, initiatorNonce: nonce.nonce,
                responderNonce: responderNonce, isCreateChild: true,
                rejectsDuplicate: rekeyed == nil)
            // The rekey initiator may send on the new pair once it has the
            // response; this side waits until it does.
            if rekeyed != nil { child.awaitsInboundTraffic = true }
            var response = payloads
            response.insert(.nonce(NoncePayload(nonce: responderNonce)), at: 1)
            sendResponse(.createChildSA, messageID: messageID, response, &sa, keys: sendKeys)
            installChild(child, &sa)
            if let rekeyed {
                // The peer deletes the old pair with an INFORMATIONAL Delete once
                // it has installed the new one. Until then both carry traffic.
                markReplaced(rekeyed, &sa)
                if sa.pendingChild?.rekeyedInboundSPI == rekeyed {
                    sa.pendingChild?.collision = RekeyCollision(
                        peerNonce: nonce.nonce, ourResponseNonce: responderNonce)
                }
                ikeSAs[sa.localSPI] = sa
            }
        } catch let duplicate as DuplicateChildSA {
            // Routine when both gateways created an entry's Child SA (see `duplicateOf`).
            log(.info, "\(peer): CREATE_CHILD_SA rejected: \(duplicate)")
            sendResponse(
                .createChildSA, messageID: messageID,
                [.notify(NotifyPayload(type: .noProposalChosen))], &sa, keys: sendKeys)
        } catch let error as IKEProtocolError {
            log(.warning, "\(peer): CREATE_CHILD_SA rejected: \(error)")
            sendResponse(
                .createChildSA, messageID: messageID, [.notify(error.notifyPayload)], &sa,
                keys: sendKeys)
        } catch {
            reject(.noProposalChosen, "\(error)")
        }
    }

    /// Queues the Child SAs of a further target served by an existing IKE SA,
    /// such as a second crypto map entry for the same peer, and starts
    /// creating them. Policies that an installed, pending or queued Child SA
    /// already covers are skipped, so adopting the SA a peer initiated for
    /// the same selectors creates no duplicates.
    func addChildren(of target: InitiationTarget, toIKESA localSPI: UInt64) {
        guard var sa = ikeSAs[localSPI] else { return }
        func covers(_ local: [TrafficSelector], _ remote: [TrafficSelector], _ policy: ChildPolicy)
            -> Bool
        {
            local.allSatisfy { selector in
                policy.localSelectors.contains { selector.isSubset(of: $0) }
            }
                && remote.allSatisfy { selector in
                    policy.remoteSelectors.contains { selector.isSubset(of: $0) }
                }
        }
        let missing = target.children.filter { policy in
            !sa.childSAs.contains { covers($0.localSelectors, $0.remoteSelectors, policy) }
                && !sa.queuedChildren.contains {
                    covers($0.localSelectors, $0.remoteSelectors, policy)
                }
                && !(sa.pendingChild.map {
                    covers($0.initiatorSelectors, $0.responderSelectors, policy)
                } ?? false)
        }
        guard !missing.isEmpty else { return }
        log(
            .info,
            "\(sa.remote.address): IKE SA \(sa.tunnelID) also serves \(target.key), "
                + "creating \(missing.count) Child SAs")
        sa.queuedChildren += missing
        ikeSAs[localSPI] = sa
        startNextChildWork(localSPI: localSPI)
    }
}

/// A CREATE_CHILD_SA request for selectors that a Child SA of the IKE SA already carries.
struct DuplicateChildSA: Error, CustomStringConvertible {
    var existing: UInt32
    var cryptoMapName: String?

    var description: String {
        "Child SA 0x\(String(existing, radix: 16)) already carries "
            + "\(cryptoMapName ?? "these selectors")"
    }
}
