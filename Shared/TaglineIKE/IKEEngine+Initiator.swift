// The initiator's side of IKE_SA_INIT and IKE_AUTH (RFC 7296 §1.2):
//
//   HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*), [V(CISCO-CTS-SGT)]  -->
//                      <--  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*), [V]
//   HDR, SK {IDi, AUTH, SAi2, TSi, TSr}  -->
//                      <--  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}

import TaglineConfig
import TaglineCore
import TaglineCrypto

extension IKEEngine {
    static let nonceLength = 32

    /// Starts an IKE SA for a target, unless its profile or key is missing.
    /// With `reuseExisting` an established IKE SA with the same peer serves
    /// the target instead. Returns the tunnel id of the IKE SA started.
    @discardableResult
    func initiate(targetKey key: String, reuseExisting: Bool = true) -> Int? {
        guard var state = targets[key] else { return nil }
        let target = state.target

        // A peer that already has an IKE SA with us (it initiated first, or
        // another target of ours is negotiating one) serves this target too.
        if reuseExisting,
            let existing = ikeSAs.values.first(where: {
                ($0.phase == .established
                    || ($0.isInitiator && [.initSent, .authSent].contains($0.phase)))
                    && $0.remote.address == target.remote && $0.local.address == target.local
            })
        {
            state.ikeSPI = existing.localSPI
            if existing.isInitiator {
                targets[key] = state
                addChildren(of: target, toIKESA: existing.localSPI)
            } else {
                // The peer initiated the SA and creates the Child SAs of its
                // own matching entry, so this side adds only what is missing, later.
                state.childrenDueAt = state.childrenDueAt ?? clock() + adoptedChildDelay
                targets[key] = state
            }
            return nil
        }

        guard let credentials = initiatorCredentials(target) else {
            backOff(targetKey: key)
            return nil
        }
        let configured = config.proposals(forLocal: target.local)
        let proposals = ProposalSelection.ikeProposals(configured)
        guard let group = configured.first?.groups.first, !proposals.isEmpty else {
            log(
                .error,
                "\(target.remote): no complete IKEv2 proposal for local address "
                    + "\(target.local)")
            backOff(targetKey: key)
            return nil
        }

        let spi = newLocalSPI()
        var sa = IKESAState(
            tunnelID: allocateTunnelID(), isInitiator: true, initiatorSPI: spi, responderSPI: 0,
            local: IKEEndpoint(address: target.local, port: IKEEndpoint.ikePort),
            remote: IKEEndpoint(address: target.remote, port: IKEEndpoint.ikePort),
            phase: .initSent, createdAt: clock())
        sa.targetKey = key
        sa.profileName = credentials.profile.name
        sa.lifetimeSeconds = Int(credentials.profile.lifetimeSeconds)
        sa.initiatorNonce = random(IKEEngine.nonceLength)
        offeredIKEProposals[spi] = proposals
        // An additional IKE SA leaves the one serving the target in place.
        if reuseExisting || state.ikeSPI == nil { state.ikeSPI = spi }
        targets[key] = state
        log(.info, "\(target.remote): initiating IKE SA \(sa.tunnelID) for \(key)")
        sendInitRequest(&sa, group: group, cookie: nil)
        return sa.tunnelID
    }

    /// Looks up the profile and keyring peer of a target. Logs and returns nil
    /// when either is missing.
    func initiatorCredentials(_ target: InitiationTarget) -> (
        profile: IKEv2Profile, peer: KeyringPeer
    )? {
        let named = target.profileName.flatMap { config.ikev2Profiles[$0] }
        guard let profile = named ?? config.profile(matchingRemote: target.remote) else {
            log(.error, "\(target.remote): no IKEv2 profile for \(target.key)")
            return nil
        }
        guard let ring = profile.keyringName,
            let peer = config.keyringPeer(for: target.remote, in: ring),
            peer.localKey != nil
        else {
            log(
                .error,
                "\(target.remote): no pre-shared key in the keyring of profile "
                    + "\(profile.name)")
            return nil
        }
        return (profile, peer)
    }

    /// Sends (or sends again, after INVALID_KE_PAYLOAD or COOKIE) the IKE_SA_INIT request.
    func sendInitRequest(_ sa: inout IKESAState, group: DHGroup, cookie: [UInt8]?) {
        let dh: DiffieHellman
        do {
            dh = try DiffieHellman(group: group)
        } catch {
            log(.error, "\(sa.remote.address): DH group \(group.rawValue) failed: \(error)")
            removeIKESA(localSPI: sa.localSPI, reason: "DH failure")
            backOff(targetKey: sa.targetKey)
            return
        }
        pendingDH[sa.localSPI] = dh
        sa.offeredGroup = group

        var payloads: [IKEPayload] = []
        if let cookie {
            payloads.append(.notify(NotifyPayload(type: .cookie, data: cookie)))
        }
        payloads.append(
            .securityAssociation(
                SAPayload(
                    proposals: offeredIKEProposals[sa.localSPI] ?? [])))
        payloads.append(.keyExchange(KEPayload(group: group, keyExchangeData: dh.publicValue)))
        payloads.append(.nonce(NoncePayload(nonce: sa.initiatorNonce)))
        payloads += NATDetection.notifies(
            initiatorSPI: sa.initiatorSPI, responderSPI: 0, local: sa.local, remote: sa.remote)
        if fragmentationEnabled {
            payloads.append(.notify(NotifyPayload(type: .fragmentationSupported)))
        }
        sa.sentSGTVendorID = config.ctsSGTEnabled
        if sa.sentSGTVendorID {
            payloads.append(.vendorID(.ciscoCTSSGT))
            debugSendingSGTVendorID(sa)
        }

        let header = IKEHeader(
            initiatorSPI: sa.initiatorSPI, responderSPI: 0, nextPayload: 0,
            exchangeType: .ikeSAInit, isInitiator: true, isResponse: false, messageID: 0)
        let bytes = IKEMessage(header: header, payloads: payloads).encodeClear()
        let now = clock()
        sa.initRequestBytes = bytes
        sa.outstanding = OutstandingRequest(
            messageID: 0, exchange: .ikeSAInit, bytes: bytes, firstSentAt: now,
            transmissions: 1, nextRetransmitAt: now + retransmitInterval)
        sa.nextRequestID = 1
        ikeSAs[sa.localSPI] = sa
        debug("IKEv2:(\(sa.tunnelID)): Sending SA_INIT request to \(sa.remote)")
        transmit(bytes, sa)
    }

    func debugSendingSGTVendorID(_ sa: IKESAState) {
        debug("IKEv2:(\(sa.tunnelID)): Sending custom vendor id : CISCO-CTS-SGT")
        debug("IKEv2:Construct Vendor Specific Payload: (CUSTOM)")
    }

    /// Reports each received Vendor ID; returns true when CISCO-CTS-SGT was among them.
    func noteVendorIDs(_ message: IKEMessage, _ sa: IKESAState) -> Bool {
        var sawSGT = false
        for vendorID in message.vendorIDs {
            if vendorID.isCiscoCTSSGT {
                sawSGT = true
                debug("IKEv2:(\(sa.tunnelID)): Received custom vendor id : CISCO-CTS-SGT")
            } else {
                debug(
                    "IKEv2:(\(sa.tunnelID)): Ignoring unknown vendor id of "
                        + "\(vendorID.data.count) bytes")
            }
        }
        return sawSGT
    }

    /// Handles the IKE_SA_INIT response: error notifies, the chosen proposal,
    /// KE, nonce, Vendor IDs and NAT detection; then derives the keys and sends IKE_AUTH.
    func handleInitResponse(
        _ received: ReceivedMessage, _ datagram: IKEDatagram,
        _ sa: inout IKESAState
    ) {
        let message = received.clearMessage
        let peer = sa.remote.address
        debug(
            "IKEv2:(\(sa.tunnelID)): Received SA_INIT response from \(datagram.remote): "
                + message.payloadSummary)

        // A COOKIE or INVALID_KE_PAYLOAD requests the same IKE_SA_INIT again, changed.
        if let cookie = message.notify(.cookie) {
            guard !sa.cookieUsed else {
                return failInitiation(&sa, "\(peer): peer sent a second COOKIE")
            }
            sa.cookieUsed = true
            sa.initCookie = cookie.data
            let group = currentGroup(sa)
            sa.outstanding = nil
            return sendInitRequest(&sa, group: group, cookie: cookie.data)
        }
        if let invalidKE = message.notify(.invalidKEPayload) {
            let raw =
                invalidKE.data.count == 2
                ? UInt16(invalidKE.data[0]) << 8 | UInt16(invalidKE.data[1]) : 0
            let offered = (offeredIKEProposals[sa.localSPI] ?? []).flatMap {
                $0.transforms(of: .diffieHellman).map(\.id)
            }
            guard let group = DHGroup(rawValue: raw), offered.contains(raw),
                group != currentGroup(sa)
            else {
                return failInitiation(&sa, "\(peer): peer asked for unusable DH group \(raw)")
            }
            log(.info, "\(peer): peer asked for DH group \(raw), sending IKE_SA_INIT again")
            sa.outstanding = nil
            return sendInitRequest(&sa, group: group, cookie: sa.initCookie)
        }
        if let error = message.errorNotify {
            return ignoreInitResponse(sa, "\(peer): IKE_SA_INIT rejected by peer: \(error.type)")
        }

        do {
            try completeInit(message, received.bytes, &sa)
        } catch {
            return ignoreInitResponse(sa, "\(peer): invalid IKE_SA_INIT response: \(error)")
        }
        sendAuthRequest(&sa)
    }

    /// Keeps waiting after an IKE_SA_INIT response that rejects the request
    /// or cannot complete the exchange. Nothing authenticates such a response,
    /// so anyone who saw the request could have sent it (RFC 7296 §2.21.1).
    /// The SA stays as it was and the request is retransmitted as scheduled.
    /// When the transmissions run out, the initiation fails with `reason`.
    func ignoreInitResponse(_ sa: IKESAState, _ reason: String) {
        counters["unusable IKE_SA_INIT response", default: 0] += 1
        if initRejections[sa.localSPI] == nil {
            log(.warning, "\(reason); waiting for another response")
        }
        initRejections[sa.localSPI] = reason
    }

    /// Returns the DH group of the KE payload last sent.
    func currentGroup(_ sa: IKESAState) -> DHGroup {
        sa.offeredGroup ?? .modp2048
    }

    /// Reads the IKE_SA_INIT response and derives the IKE SA keys.
    private func completeInit(_ message: IKEMessage, _ bytes: [UInt8], _ sa: inout IKESAState)
        throws
    {
        guard message.header.responderSPI != 0 else {
            throw IKEProtocolError.invalidPayload("responder SPI is zero")
        }
        guard let saPayload = message.securityAssociation else {
            throw IKEProtocolError.missingPayload("SA")
        }
        guard let ke = message.keyExchange else { throw IKEProtocolError.missingPayload("KE") }
        guard let nonce = message.nonce else { throw IKEProtocolError.missingPayload("Nr") }
        try nonce.validate()
        let algorithms = try ProposalSelection.acceptIKE(
            response: saPayload, offered: offeredIKEProposals[sa.localSPI] ?? [])
        guard ke.groupNumber == algorithms.dhGroup.rawValue,
            let dh = pendingDH[sa.localSPI], currentGroup(sa) == algorithms.dhGroup
        else {
            throw IKEProtocolError.invalidKEPayload(expected: algorithms.dhGroup)
        }
        try ke.validate()
        let secret = try dh.computeSharedSecret(peerPublicValue: ke.keyExchangeData)

        sa.responderSPI = message.header.responderSPI
        sa.responderNonce = nonce.nonce
        sa.algorithms = algorithms
        sa.initResponseBytes = bytes
        sa.outstanding = nil

        // Tagging needs the Vendor ID both ways; later configuration never changes it.
        let receivedSGT = noteVendorIDs(message, sa)
        sa.taggingNegotiated = sa.sentSGTVendorID && receivedSGT

        sa.nat = NATDetection.evaluate(message, local: sa.local, remote: sa.remote)
        sa.fragmentationNegotiated = fragmentationEnabled && offersFragmentation(message)
        if sa.nat?.isDetected == true {
            sa.local.port = IKEEndpoint.natTraversalPort
            sa.remote.port = IKEEndpoint.natTraversalPort
            debug("IKEv2:(\(sa.tunnelID)): NAT detected, floating to port 4500")
        }

        sa.keys = try IKESAKeys.derive(
            prf: algorithms.prf, encryption: algorithms.encryption,
            integrity: algorithms.integrity, sharedSecret: secret,
            initiatorNonce: sa.initiatorNonce, responderNonce: sa.responderNonce,
            initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI)
        // Only now, because a response that throws above leaves the SA as it was.
        pendingDH[sa.localSPI] = nil
        initRejections[sa.localSPI] = nil
        ikeSAs[sa.localSPI] = sa
    }

    /// Builds and sends IKE_AUTH with the first Child SA of the target.
    func sendAuthRequest(_ sa: inout IKESAState) {
        let peer = sa.remote.address
        guard let key = sa.targetKey, let target = targets[key]?.target,
            let credentials = initiatorCredentials(target),
            let localKey = credentials.peer.localKey,
            let keys = sa.keys, let algorithms = sa.algorithms, let sendKeys = sa.sendKeys
        else {
            return failInitiation(&sa, "\(peer): IKE SA \(sa.tunnelID) lost its configuration")
        }
        guard let policy = target.children.first else {
            return failInitiation(&sa, "\(peer): no Child SA policy for \(key)")
        }
        guard let inboundSPI = delegate?.engineAllocateInboundSPI(self) else {
            return failInitiation(&sa, "\(peer): no inbound SPI available for the Child SA")
        }

        let identity = IDPayload(address: credentials.profile.localIdentity ?? sa.local.address)
        let authData: [UInt8]
        do {
            authData = try PSKAuthentication.authData(
                prf: algorithms.prf, sharedKey: localKey.bytes, message: sa.initRequestBytes,
                peerNonce: sa.responderNonce, identityKey: keys.initiatorIdentity.bytes,
                idPayloadBody: identity.bodyBytes)
        } catch {
            return failInitiation(&sa, "\(peer): AUTH computation failed: \(error)")
        }
        sa.localID = identity.displayText
        sa.pendingChild = PendingChildSA(
            inboundSPI: inboundSPI, policy: policy,
            initiatorSelectors: policy.localSelectors, responderSelectors: policy.remoteSelectors,
            offeredExtendedSequenceNumbers: config.extendedSequenceNumbers ? true : nil)
        sa.queuedChildren = Array(target.children.dropFirst()) + sa.queuedChildren
        sa.phase = .authSent

        let payloads: [IKEPayload] = [
            .identificationInitiator(identity),
            .authentication(AuthPayload(method: .sharedKeyMIC, data: authData)),
            .securityAssociation(
                SAPayload(
                    proposals: ProposalSelection.espProposals(
                        policy.transforms, spi: inboundSPI,
                        offersExtendedSequenceNumbers: config.extendedSequenceNumbers))),
            .trafficSelectorInitiator(TSPayload(selectors: policy.localSelectors)),
            .trafficSelectorResponder(TSPayload(selectors: policy.remoteSelectors)),
        ]
        debug("IKEv2:(\(sa.tunnelID)): Sending AUTH request to \(sa.remote)")
        sendRequest(.ikeAuth, payloads, &sa, keys: sendKeys)
    }

    /// Handles the IKE_AUTH response: checks the responder's AUTH and installs the Child SA.
    func handleAuthResponse(_ message: IKEMessage, _ sa: inout IKESAState) {
        let peer = sa.remote.address
        sa.outstanding = nil
        debug("IKEv2:(\(sa.tunnelID)): Received AUTH response: \(message.payloadSummary)")

        // Without IDr and AUTH the response is an error that ends the IKE SA.
        guard let identity = message.responderID, let auth = message.authentication else {
            let reason = message.errorNotify.map { "\($0.type)" } ?? "no IDr or AUTH payload"
            return failInitiation(&sa, "\(peer): IKE_AUTH rejected by peer: \(reason)")
        }
        guard let key = sa.targetKey, let target = targets[key]?.target,
            let credentials = initiatorCredentials(target),
            let remoteKey = credentials.peer.remoteKey ?? credentials.peer.localKey,
            let keys = sa.keys, let algorithms = sa.algorithms
        else {
            return failInitiation(&sa, "\(peer): IKE SA \(sa.tunnelID) lost its configuration")
        }
        let expected = try? PSKAuthentication.authData(
            prf: algorithms.prf, sharedKey: remoteKey.bytes, message: sa.initResponseBytes,
            peerNonce: sa.initiatorNonce, identityKey: keys.responderIdentity.bytes,
            idPayloadBody: identity.bodyBytes)
        guard auth.method == .sharedKeyMIC, let expected, constantTimeEqual(expected, auth.data)
        else {
            return failInitiation(
                &sa,
                "\(peer): authentication of responder \(identity.displayText) failed: "
                    + "pre-shared key mismatch")
        }

        establish(&sa, remoteID: identity.displayText)
        if let pending = sa.pendingChild {
            sa.pendingChild = nil
            completeChildAsInitiator(
                message, pending, &sa, initiatorNonce: sa.initiatorNonce,
                responderNonce: sa.responderNonce)
        }
        ikeSAs[sa.localSPI] = sa
        delegate?.engine(self, ikeSAChanged: status(of: sa), up: true)
        resolveDuplicates(remote: sa.remote.address)
        startNextChildWork(localSPI: sa.localSPI)
    }

    /// Ends a failed initiation: one log line, the SA removed, the target backed off.
    func failInitiation(_ sa: inout IKESAState, _ reason: String) {
        log(.error, reason)
        debug("IKEv2:(\(sa.tunnelID)): Negotiation aborted")
        // An additional IKE SA that fails leaves the target and its SA alone.
        let serving = sa.targetKey.flatMap { targets[$0]?.ikeSPI } == sa.localSPI
        let key = serving ? sa.targetKey : nil
        removeIKESA(localSPI: sa.localSPI, reason: "negotiation failed")
        backOff(targetKey: key)
    }

    /// Marks an SA as authenticated and drops the data only the handshake needed.
    func establish(_ sa: inout IKESAState, remoteID: String) {
        sa.phase = .established
        sa.establishedAt = clock()
        scheduleIKELifetime(&sa)
        sa.remoteID = remoteID
        sa.initRequestBytes = []
        sa.initResponseBytes = []
        if let key = sa.targetKey {
            targets[key]?.failures = 0
            // An additional IKE SA leaves an established one serving the target in place.
            let serving = targets[key]?.ikeSPI.flatMap { ikeSAs[$0] }
            if serving?.phase != .established || serving?.localSPI == sa.localSPI {
                targets[key]?.ikeSPI = sa.localSPI
            }
        }
        let nat = sa.nat?.isDetected == true ? ", NAT-T" : ""
        let sgt = sa.taggingNegotiated ? ", SGT tagging negotiated" : ""
        let role = sa.isInitiator ? "initiator" : "responder"
        log(.notice, "\(sa.remote.address): IKE SA \(sa.tunnelID) up (\(role)\(nat)\(sgt))")
        debug("IKEv2:(\(sa.tunnelID)): IKE SA established with \(sa.remote)")
    }
}
