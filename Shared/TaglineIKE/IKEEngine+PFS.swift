// Perfect forward secrecy for CREATE_CHILD_SA (RFC 7296 §1.3.1, §2.17):
// with `set pfs groupN` the request carries KEi and the DH transform in each
// ESP proposal, the response KEr, and the Child SA keys come from
// prf+(SK_d, g^ir (new) | Ni | Nr). IKE_AUTH's Child SA never has a KE payload.
//
// A responder whose policy sets PFS rejects a request without KE with
// NO_PROPOSAL_CHOSEN. It rejects a KE in another group with
// INVALID_KE_PAYLOAD naming its own group, and the initiator then sends the
// request once more with that group. A responder without `set pfs` accepts
// PFS in any group it supports that the proposal lists.

import TaglineCore
import TaglineCrypto

/// A PFS exchange failure that is not the peer's fault.
enum PFSError: Error {
    /// The DH private value of the request is gone, such as after a restart.
    case privateValueLost
}

extension IKEProtocolError {
    /// The notify that reports this error to the peer. INVALID_KE_PAYLOAD
    /// carries the expected group as two bytes (RFC 7296 §3.10.1).
    var notifyPayload: NotifyPayload {
        if case .invalidKEPayload(let group) = self {
            let raw = group.rawValue
            return NotifyPayload(
                type: .invalidKEPayload, data: [UInt8(raw >> 8), UInt8(raw & 0xFF)])
        }
        return NotifyPayload(type: notifyType)
    }
}

extension IKEEngine {
    // MARK: Initiator

    /// Sends CREATE_CHILD_SA for `pending`: N(REKEY_SA) for a rekey, SA, Ni,
    /// KEi with PFS, TSi and TSr. A fresh nonce and DH value are drawn each time.
    func sendChildRequest(_ pending: PendingChildSA, _ sa: inout IKESAState, keys: SKKeys) {
        var pending = pending
        pending.nonce = random(IKEEngine.nonceLength)
        pending.offeredExtendedSequenceNumbers = config.extendedSequenceNumbers ? true : nil
        var payloads: [IKEPayload] = []
        if let old = pending.rekeyedInboundSPI {
            payloads.append(
                .notify(
                    NotifyPayload(
                        type: .rekeySA, protocolID: SecurityProtocol.esp.rawValue,
                        spi: ProposalSelection.spiBytes(old))))
        }
        payloads.append(
            .securityAssociation(
                SAPayload(
                    proposals: ProposalSelection.espProposals(
                        pending.policy.transforms, spi: pending.inboundSPI,
                        pfsGroup: pending.pfsGroup,
                        offersExtendedSequenceNumbers: pending.offeredExtendedSequenceNumbers
                            ?? false))))
        payloads.append(.nonce(NoncePayload(nonce: pending.nonce)))
        if let group = pending.pfsGroup {
            do {
                let dh = try DiffieHellman(group: group)
                pendingChildDH[sa.localSPI] = dh
                pending.dhPrivateKey = try dh.exportPrivateKey()
                payloads.append(
                    .keyExchange(KEPayload(group: group, keyExchangeData: dh.publicValue)))
            } catch {
                log(.error, "\(sa.remote.address): DH group \(group.rawValue) failed: \(error)")
                ikeSAs[sa.localSPI] = sa
                return
            }
        }
        payloads += [
            .trafficSelectorInitiator(TSPayload(selectors: pending.initiatorSelectors)),
            .trafficSelectorResponder(TSPayload(selectors: pending.responderSelectors)),
        ]
        sa.pendingChild = pending
        sendRequest(.createChildSA, payloads, &sa, keys: keys)
    }

    /// Sends the request once more with the group that the peer's
    /// INVALID_KE_PAYLOAD names. Returns false, changing nothing, when the
    /// response is something else, the request was already repeated, the
    /// peer's own rekey of the same Child SA already replaced it, or the
    /// group is unknown or the one just sent.
    func retryChildWithRequestedGroup(
        _ message: IKEMessage, _ pending: PendingChildSA, _ sa: inout IKESAState
    ) -> Bool {
        guard let notify = message.notify(.invalidKEPayload), pending.pfsGroup != nil,
            pending.keRetried != true, pending.collision == nil, let keys = sa.sendKeys
        else { return false }
        let raw = notify.data.count == 2 ? UInt16(notify.data[0]) << 8 | UInt16(notify.data[1]) : 0
        guard let group = DHGroup(rawValue: raw), group != pending.pfsGroup else {
            log(.warning, "\(sa.remote.address): peer asked for unusable PFS group \(raw)")
            return false
        }
        // `set pfs` names a single group, so the peer's choice is followed once.
        // The request is protected by the IKE SA, so only the authenticated peer can ask.
        log(
            .info,
            "\(sa.remote.address): peer asked for PFS group \(raw), sending CREATE_CHILD_SA again")
        var retry = pending
        retry.pfsGroup = group
        retry.keRetried = true
        sendChildRequest(retry, &sa, keys: keys)
        return true
    }

    /// Returns g^ir of this side's PFS request from the response's KEr, or nil
    /// without PFS. Throws when KEr is missing, in another group or invalid,
    /// and `PFSError.privateValueLost` when the DH private value is gone.
    func initiatorPFSSecret(
        _ message: IKEMessage, _ pending: PendingChildSA, _ sa: IKESAState
    ) throws -> [UInt8]? {
        guard let group = pending.pfsGroup else {
            guard message.keyExchange == nil else {
                throw IKEProtocolError.unexpectedPayload("KE")
            }
            return nil
        }
        guard let ke = message.keyExchange else { throw IKEProtocolError.missingPayload("KEr") }
        guard ke.groupNumber == group.rawValue else {
            throw IKEProtocolError.invalidKEPayload(expected: group)
        }
        try ke.validate()
        guard let dh = pendingChildDH[sa.localSPI], dh.group == group else {
            throw PFSError.privateValueLost
        }
        do {
            return try dh.computeSharedSecret(peerPublicValue: ke.keyExchangeData)
        } catch {
            throw IKEProtocolError.invalidPayload("KEr: \(error)")
        }
    }

    /// Handles a successful response to a PFS request whose DH private value
    /// was lost in a restart: the peer installed a Child SA this side cannot
    /// key. A Delete naming its SPI removes it there, and the request is queued again.
    func discardUnusableChild(
        _ pending: PendingChildSA, _ message: IKEMessage, _ sa: inout IKESAState
    ) {
        log(
            .warning,
            "\(sa.remote.address): CREATE_CHILD_SA response arrived after a restart lost its "
                + "DH value; deleting the Child SA the peer created and trying again")
        sa.queuedChildDeletes = (sa.queuedChildDeletes ?? []) + [pending.inboundSPI]
        sa.childWorkDueAt = clock()
        requeue(pending, &sa)
    }

    /// Queues a failed Child SA request to be sent again: a rekey of the same
    /// Child SA, or the same policy for a new one.
    func requeue(_ pending: PendingChildSA, _ sa: inout IKESAState) {
        if let old = pending.rekeyedInboundSPI {
            if sa.childSAs.contains(where: { $0.inboundSPI == old }),
                !(sa.queuedRekeys ?? []).contains(old),
                !(sa.replacedChildSPIs ?? []).contains(old)
            {
                sa.queuedRekeys = (sa.queuedRekeys ?? []) + [old]
            }
        } else {
            sa.queuedChildren.insert(pending.policy, at: 0)
        }
    }

    /// Queues the request again after a TEMPORARY_FAILURE response, due after
    /// `rekeyRetryInterval` plus a random extra. Returns false for any other response.
    func retryChildAfterTemporaryFailure(
        _ message: IKEMessage, _ pending: PendingChildSA, _ sa: inout IKESAState
    ) -> Bool {
        guard message.notify(.temporaryFailure) != nil else { return false }
        log(
            .info, "\(sa.remote.address): CREATE_CHILD_SA got TEMPORARY_FAILURE, trying again later"
        )
        requeue(pending, &sa)
        sa.childWorkDueAt = clock() + randomRetryDelay()
        ikeSAs[sa.localSPI] = sa
        return true
    }

    /// Returns `rekeyRetryInterval` plus a random extra of up to the same again.
    func randomRetryDelay() -> Double {
        let bytes = random(2)
        let fraction = Double(UInt16(bytes[0]) << 8 | UInt16(bytes[1])) / Double(UInt16.max)
        return rekeyRetryInterval * (1 + fraction)
    }

    // MARK: Responder

    /// Decides what the DH transforms of the peer's ESP proposal must allow.
    /// Throws NO_PROPOSAL_CHOSEN when the policy requires PFS and KEi is
    /// missing or in a group this side cannot use, and INVALID_KE_PAYLOAD when
    /// KEi is in another group than the policy's.
    func pfsRequirement(keyExchange: KEPayload?, policy: ChildPolicy, isCreateChild: Bool)
        throws -> DHRequirement
    {
        guard isCreateChild else { return .ignored }
        if let policyGroup = policy.pfsGroup {
            guard let ke = keyExchange else {
                throw IKEProtocolError.noProposalChosen(
                    "PFS group \(policyGroup.rawValue) required, but the request has no KE payload")
            }
            guard ke.groupNumber == policyGroup.rawValue else {
                throw IKEProtocolError.invalidKEPayload(expected: policyGroup)
            }
            return .group(policyGroup)
        }
        guard let ke = keyExchange else { return .none }
        guard let group = ke.group else {
            throw IKEProtocolError.noProposalChosen("KE in unsupported group \(ke.groupNumber)")
        }
        return .group(group)
    }

    /// Performs the responder's half of the PFS exchange for a chosen DH
    /// requirement. Returns KEr and g^ir, or nil without PFS.
    func responderPFSExchange(_ requirement: DHRequirement, keyExchange: KEPayload?) throws
        -> (payload: KEPayload, secret: [UInt8])?
    {
        guard case .group(let group) = requirement, let ke = keyExchange else { return nil }
        try ke.validate()
        let dh = try DiffieHellman(group: group)
        let secret: [UInt8]
        do {
            secret = try dh.computeSharedSecret(peerPublicValue: ke.keyExchangeData)
        } catch {
            throw IKEProtocolError.invalidPayload("KEi: \(error)")
        }
        return (KEPayload(group: group, keyExchangeData: dh.publicValue), secret)
    }
}
