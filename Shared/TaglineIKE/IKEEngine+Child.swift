// Child SA negotiation, shared by IKE_AUTH and CREATE_CHILD_SA (RFC 7296
// §1.3.1, §2.17):
//
//   HDR, SK {SA, Ni, TSi, TSr}  -->
//                      <--  HDR, SK {SA, Nr, TSi, TSr}
//
// Rekeying an existing Child SA adds N(REKEY_SA) to the request; the old
// pair is deleted with an INFORMATIONAL exchange afterwards.

import TaglineConfig
import TaglineCore

extension IKEEngine {
    /// Chooses policy, proposal and SPI for a Child SA the peer proposed, and
    /// derives its keys. Returns the Child SA and the payloads of the response.
    func negotiateChildAsResponder(
        _ message: IKEMessage, _ sa: IKESAState, profile: IKEv2Profile?,
        initiatorNonce: [UInt8], responderNonce: [UInt8]
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
        guard
            let selection = ProposalSelection.chooseESP(
                offered: offered.proposals, transforms: policy.transforms, ourSPI: 0)
        else {
            throw IKEProtocolError.noProposalChosen(
                "no transform set of \(policy.cryptoMapName ?? "the policy") matches")
        }
        guard let inboundSPI = delegate?.engineAllocateInboundSPI(self) else {
            throw IKEProtocolError.temporaryFailure("no inbound SPI available")
        }
        let (transform, peerSPI, proposal) = selection
        var chosen = proposal
        chosen.spi = ProposalSelection.spiBytes(inboundSPI)

        // The responder's view: its local side is TSr, the peer's is TSi.
        let child = try makeChildSA(
            sa, policy: policy, transform: transform, inboundSPI: inboundSPI,
            outboundSPI: peerSPI, localSelectors: policy.localSelectors,
            remoteSelectors: policy.remoteSelectors, isExchangeInitiator: false,
            initiatorNonce: initiatorNonce, responderNonce: responderNonce)
        let payloads: [IKEPayload] = [
            .securityAssociation(SAPayload(proposals: [chosen])),
            .trafficSelectorInitiator(TSPayload(selectors: policy.remoteSelectors)),
            .trafficSelectorResponder(TSPayload(selectors: policy.localSelectors)),
        ]
        return (child, payloads)
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
            let (transform, peerSPI) = try ProposalSelection.acceptESP(
                response: saPayload, offered: pending.policy.transforms)
            let child = try makeChildSA(
                sa, policy: pending.policy, transform: transform, inboundSPI: pending.inboundSPI,
                outboundSPI: peerSPI, localSelectors: tsi.selectors,
                remoteSelectors: tsr.selectors, isExchangeInitiator: true,
                initiatorNonce: initiatorNonce, responderNonce: responderNonce)
            installChild(child, &sa)
        } catch {
            log(.warning, "\(peer): Child SA not created: \(error)")
        }
    }

    /// Derives the keys and fills in a Child SA pair.
    func makeChildSA(
        _ sa: IKESAState, policy: ChildPolicy, transform: ESPTransform, inboundSPI: UInt32,
        outboundSPI: UInt32, localSelectors: [TrafficSelector],
        remoteSelectors: [TrafficSelector], isExchangeInitiator: Bool,
        initiatorNonce: [UInt8], responderNonce: [UInt8]
    ) throws -> ChildSA {
        guard let keys = sa.keys, let algorithms = sa.algorithms else {
            throw IKEProtocolError.invalidPayload("IKE SA has no keys")
        }
        let material = try ChildSAKeyMaterial.derive(
            prf: algorithms.prf, derivationKey: keys.derivation.bytes,
            encryption: transform.encryption, integrity: transform.integrity,
            initiatorNonce: initiatorNonce, responderNonce: responderNonce)
        let inbound =
            isExchangeInitiator
            ? material.responderToInitiator : material.initiatorToResponder
        let outbound =
            isExchangeInitiator
            ? material.initiatorToResponder : material.responderToInitiator
        let encapsulation =
            sa.nat?.isDetected == true
            ? UDPEncapsulation(localPort: sa.local.port, remotePort: sa.remote.port) : nil
        return ChildSA(
            inboundSPI: inboundSPI, outboundSPI: outboundSPI, ikeSAName: sa.name,
            localAddress: sa.local.address, remoteAddress: sa.remote.address,
            udpEncapsulation: encapsulation, localSelectors: localSelectors,
            remoteSelectors: remoteSelectors, encryption: transform.encryption,
            integrity: transform.integrity, inboundKeys: inbound, outboundKeys: outbound,
            taggingNegotiated: sa.taggingNegotiated, cryptoMapName: policy.cryptoMapName,
            interfaceName: policy.interfaceName, transformDescription: transform.description,
            installedAt: clock(), lifetimeSeconds: policy.lifetime,
            lifetimeKilobytes: policy.lifetimeKilobytes)
    }

    /// Hands a Child SA to the delegate and records it on its IKE SA.
    func installChild(_ child: ChildSA, _ sa: inout IKESAState) {
        sa.childSAs.append(child)
        ikeSAs[sa.localSPI] = sa
        let tagging = child.taggingNegotiated ? ", inline tagging negotiated" : ""
        let inbound = "0x" + String(child.inboundSPI, radix: 16)
        let outbound = "0x" + String(child.outboundSPI, radix: 16)
        log(
            .notice,
            "\(sa.remote.address): Child SA up, in SPI \(inbound) out SPI \(outbound) "
                + "(\(child.transformDescription)\(tagging))")
        debug("IKEv2:(\(sa.tunnelID)): Child SA installed, SPI in \(inbound) out \(outbound)")
        delegate?.engine(self, install: child)
    }

    /// Starts CREATE_CHILD_SA for the next queued policy of an established SA.
    func createNextChild(localSPI: UInt64) {
        guard var sa = ikeSAs[localSPI], sa.phase == .established, sa.outstanding == nil,
            sa.pendingChild == nil, !sa.queuedChildren.isEmpty, let keys = sa.sendKeys
        else { return }
        let policy = sa.queuedChildren.removeFirst()
        guard let inboundSPI = delegate?.engineAllocateInboundSPI(self) else {
            log(.warning, "\(sa.remote.address): no inbound SPI available for a further Child SA")
            ikeSAs[localSPI] = sa
            return
        }
        let nonce = random(IKEEngine.nonceLength)
        sa.pendingChild = PendingChildSA(
            inboundSPI: inboundSPI, policy: policy, initiatorSelectors: policy.localSelectors,
            responderSelectors: policy.remoteSelectors, nonce: nonce)
        let payloads: [IKEPayload] = [
            .securityAssociation(
                SAPayload(
                    proposals: ProposalSelection.espProposals(policy.transforms, spi: inboundSPI))),
            .nonce(NoncePayload(nonce: nonce)),
            .trafficSelectorInitiator(TSPayload(selectors: policy.localSelectors)),
            .trafficSelectorResponder(TSPayload(selectors: policy.remoteSelectors)),
        ]
        debug("IKEv2:(\(sa.tunnelID)): Sending CREATE_CHILD_SA request to \(sa.remote)")
        sendRequest(.createChildSA, payloads, &sa, keys: keys)
    }

    /// Handles the CREATE_CHILD_SA response for the pending Child SA, then starts the next one.
    func handleCreateChildResponse(_ message: IKEMessage, _ sa: inout IKESAState) {
        sa.outstanding = nil
        guard let pending = sa.pendingChild else {
            ikeSAs[sa.localSPI] = sa
            return
        }
        sa.pendingChild = nil
        var responderNonce: [UInt8]?
        if let nonce = message.nonce, (try? nonce.validate()) != nil {
            responderNonce = nonce.nonce
            completeChildAsInitiator(
                message, pending, &sa, initiatorNonce: pending.nonce, responderNonce: nonce.nonce)
        } else {
            let reason = message.errorNotify.map { "\($0.type)" } ?? "no valid Nr payload"
            log(.warning, "\(sa.remote.address): Child SA rejected by peer: \(reason)")
        }
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
            log(.warning, "\(peer): CREATE_CHILD_SA rejected: \(reason)")
            sendResponse(
                .createChildSA, messageID: messageID,
                [.notify(NotifyPayload(type: notify))], &sa, keys: sendKeys)
        }
        // TODO: rekeying the IKE SA itself and PFS (a KE payload) are not implemented.
        if let offered = message.securityAssociation,
            offered.proposals.contains(where: { $0.securityProtocol == .ike })
        {
            return reject(.noAdditionalSAs, "IKE SA rekey is not supported")
        }
        if message.keyExchange != nil {
            return reject(.noProposalChosen, "PFS is not supported")
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
                responderNonce: responderNonce)
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
        } catch let error as IKEProtocolError {
            reject(error.notifyType, "\(error)")
        } catch {
            reject(.noProposalChosen, "\(error)")
        }
    }
}
