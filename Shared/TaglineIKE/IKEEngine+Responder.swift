// The responder's side of IKE_SA_INIT and IKE_AUTH (RFC 7296 §1.2), and the
// dispatch of authenticated requests.

import TaglineConfig
import TaglineCore
import TaglineCrypto

extension IKEEngine {
    /// Responds to an IKE_SA_INIT request: repeats the cached response for a
    /// retransmission, reports errors in clear, or creates a half-open SA.
    func respondToInit(_ received: ReceivedMessage, _ datagram: IKEDatagram) {
        let header = received.header
        guard header.isInitiator, header.responderSPI == 0, header.messageID == 0 else {
            drop("invalid IKE_SA_INIT", "\(datagram.remote): IKE_SA_INIT request with bad header")
            return
        }

        // A retransmitted request gets the same response again.
        if let existing = ikeSAs.responderSA(
            initiatorSPI: header.initiatorSPI, address: datagram.remote.address)
        {
            if existing.phase == .halfOpen, let cached = existing.lastResponse,
                cached.messageID == 0
            {
                retransmittedResponses += 1
                transmitMessage(cached.bytes, fragments: cached.fragments, existing)
            } else {
                drop("unexpected IKE_SA_INIT", "\(datagram.remote): IKE_SA_INIT for a known SA")
            }
            return
        }

        // Each half-open SA costs a Diffie-Hellman computation and memory until
        // IKE_AUTH or its timeout, and anyone can send IKE_SA_INIT. From
        // `effectiveCookieThreshold` half-open SAs on, a request must first prove that
        // its source address receives our responses, and their number is capped.
        guard checkCookie(received, datagram) else { return }
        guard ikeSAs.halfOpen.count < maximumHalfOpenSAs else {
            drop(
                "half-open limit reached",
                "\(datagram.remote): IKE_SA_INIT request while \(maximumHalfOpenSAs) IKE SAs "
                    + "are half open",
                level: .warning)
            return
        }

        let message = received.clearMessage
        let peer = datagram.remote.address
        let tunnelID = allocateTunnelID()
        debug(
            "IKEv2:(\(tunnelID)): Received SA_INIT request from \(datagram.remote): "
                + message.payloadSummary)

        // Structure is checked; now the meaning: the payloads IKE_SA_INIT needs.
        guard let offered = message.securityAssociation, let ke = message.keyExchange,
            let nonce = message.nonce, (try? nonce.validate()) != nil
        else {
            return rejectInit(
                header, datagram, NotifyPayload(type: .invalidSyntax), .warning,
                "\(peer): IKE_SA_INIT request without valid SA, KE and Ni payloads")
        }
        let configured = config.proposals(forLocal: datagram.local.address)
        guard
            let (algorithms, chosen) = ProposalSelection.chooseIKE(
                offered: offered.proposals, configured: configured, keGroup: ke.groupNumber)
        else {
            return rejectInit(
                header, datagram, NotifyPayload(type: .noProposalChosen), .warning,
                "\(peer): no acceptable IKE proposal among \(offered.proposals.count) offered")
        }
        guard ke.groupNumber == algorithms.dhGroup.rawValue else {
            let group = algorithms.dhGroup.rawValue
            let notify = NotifyPayload(
                type: .invalidKEPayload, data: [UInt8(group >> 8), UInt8(group & 0xFF)])
            return rejectInit(
                header, datagram, notify, .info,
                "\(peer): KE in group \(ke.groupNumber), asking for group \(group)")
        }

        // Key exchange.
        let dh: DiffieHellman
        let secret: [UInt8]
        do {
            try ke.validate()
            dh = try DiffieHellman(group: algorithms.dhGroup)
            secret = try dh.computeSharedSecret(peerPublicValue: ke.keyExchangeData)
        } catch {
            return rejectInit(
                header, datagram, NotifyPayload(type: .invalidSyntax), .warning,
                "\(peer): invalid KE payload: \(error)")
        }

        var sa = IKESAState(
            tunnelID: tunnelID, isInitiator: false, initiatorSPI: header.initiatorSPI,
            responderSPI: newLocalSPI(), local: datagram.local, remote: datagram.remote,
            phase: .halfOpen, createdAt: clock())
        sa.algorithms = algorithms
        sa.initiatorNonce = nonce.nonce
        sa.responderNonce = random(IKEEngine.nonceLength)

        // Tagging is negotiated only when the initiator sent the Vendor ID and
        // this gateway has `crypto ikev2 cts sgt`; only then is it echoed.
        let receivedSGT = noteVendorIDs(message, sa)
        sa.taggingNegotiated = receivedSGT && config.ctsSGTEnabled
        sa.sentSGTVendorID = sa.taggingNegotiated
        sa.nat = NATDetection.evaluate(message, local: datagram.local, remote: datagram.remote)
        sa.fragmentationNegotiated = fragmentationEnabled && offersFragmentation(message)

        do {
            sa.keys = try IKESAKeys.derive(
                prf: algorithms.prf, encryption: algorithms.encryption,
                integrity: algorithms.integrity, sharedSecret: secret,
                initiatorNonce: sa.initiatorNonce, responderNonce: sa.responderNonce,
                initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI)
        } catch {
            return rejectInit(
                header, datagram, NotifyPayload(type: .noProposalChosen), .error,
                "\(peer): IKE key derivation failed: \(error)")
        }

        var payloads: [IKEPayload] = [
            .securityAssociation(SAPayload(proposals: [chosen])),
            .keyExchange(KEPayload(group: algorithms.dhGroup, keyExchangeData: dh.publicValue)),
            .nonce(NoncePayload(nonce: sa.responderNonce)),
        ]
        if sa.nat != nil {
            payloads += NATDetection.notifies(
                initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI, local: sa.local,
                remote: sa.remote)
        }
        if sa.fragmentationNegotiated == true {
            payloads.append(.notify(NotifyPayload(type: .fragmentationSupported)))
        }
        if sa.sentSGTVendorID {
            payloads.append(.vendorID(.ciscoCTSSGT))
            debugSendingSGTVendorID(sa)
        }
        let responseHeader = IKEHeader(
            initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI, nextPayload: 0,
            exchangeType: .ikeSAInit, isInitiator: false, isResponse: true, messageID: 0)
        let bytes = IKEMessage(header: responseHeader, payloads: payloads).encodeClear()
        sa.initRequestBytes = datagram.bytes
        sa.initResponseBytes = bytes
        sa.lastResponse = CachedResponse(messageID: 0, bytes: bytes)
        sa.expectedPeerRequestID = 1
        ikeSAs[sa.localSPI] = sa
        debug("IKEv2:(\(sa.tunnelID)): Sending SA_INIT response to \(sa.remote)")
        transmit(bytes, sa)
    }

    /// Sends one error notify in clear for an IKE_SA_INIT request and keeps no
    /// state. The request is counted as "IKE_SA_INIT rejected" and `message`
    /// is logged, rate-limited, because anyone can send such requests.
    func rejectInit(
        _ request: IKEHeader, _ datagram: IKEDatagram, _ notify: NotifyPayload,
        _ level: LogLevel, _ message: String
    ) {
        let reason = "IKE_SA_INIT rejected"
        counters[reason, default: 0] += 1
        logLimited(reason, level, message)
        let header = IKEHeader(
            initiatorSPI: request.initiatorSPI, responderSPI: 0, nextPayload: 0,
            exchangeType: .ikeSAInit, isInitiator: false, isResponse: true, messageID: 0)
        let bytes = IKEMessage(header: header, payloads: [.notify(notify)]).encodeClear()
        delegate?.engine(
            self, send: IKEDatagram(local: datagram.local, remote: datagram.remote, bytes: bytes))
    }

    /// Handles a request on an existing SA: decrypts it, resends the cached
    /// response for a retransmission, and dispatches the exchange. Nothing
    /// about the SA changes before the SK payload has verified.
    func handleRequest(
        _ received: ReceivedMessage, _ datagram: IKEDatagram,
        _ sa: inout IKESAState
    ) {
        let header = received.header
        let peer = sa.remote.address
        guard let keys = sa.receiveKeys, let sendKeys = sa.sendKeys else {
            drop("no keys", "\(peer): request before keys exist")
            return
        }

        // With a window of one request, only the expected request and a
        // retransmission of the last one responded to are worth decrypting.
        let isRetransmission = sa.lastResponse?.messageID == header.messageID
        guard header.messageID == sa.expectedPeerRequestID || isRetransmission else {
            drop(
                "unexpected message ID",
                "\(peer): request \(header.messageID), expected \(sa.expectedPeerRequestID)")
            return
        }

        let message: IKEMessage
        guard
            let opened = openProtected(
                received, sa, keys: keys, isRetransmission: isRetransmission,
                "\(header.exchangeType) request \(header.messageID)")
        else { return }
        switch opened {
        case .rejected:
            return
        case .malformedInside(let error) where isRetransmission:
            drop("malformed", "\(peer): malformed request \(header.messageID): \(error)")
            return
        case .malformedInside(let error):
            // Authentic but malformed inside: the request gets INVALID_SYNTAX.
            // An established SA survives it; a half-open one ends.
            counters["malformed", default: 0] += 1
            log(.warning, "\(peer): malformed \(header.exchangeType) request: \(error)")
            sendResponse(
                header.exchangeType, messageID: header.messageID,
                [.notify(NotifyPayload(type: .invalidSyntax))], &sa, keys: sendKeys)
            if sa.phase == .halfOpen {
                removeIKESA(localSPI: sa.localSPI, reason: "invalid syntax")
            }
            return
        case .authentic(let opened):
            message = opened
        }
        sa.lastReceivedAt = clock()

        if isRetransmission, let cached = sa.lastResponse {
            retransmittedResponses += 1
            ikeSAs[sa.localSPI] = sa
            transmitMessage(cached.bytes, fragments: cached.fragments, sa)
            return
        }

        // After NAT-T floating the peer talks to port 4500, possibly from a new NAT port.
        if datagram.local.port == IKEEndpoint.natTraversalPort {
            sa.local = datagram.local
            sa.remote = datagram.remote
        }

        switch header.exchangeType {
        case .ikeAuth where sa.phase == .halfOpen:
            respondToAuth(message, &sa)
        case .informational:
            respondToInformational(message, &sa)
        case .createChildSA where sa.phase == .established:
            respondToCreateChild(message, &sa)
        default:
            drop(
                "unexpected exchange",
                "\(peer): \(header.exchangeType) request in phase \(sa.phase.rawValue)")
        }
    }

    /// Responds to IKE_AUTH: finds the profile and key, checks the initiator's AUTH,
    /// sends its own, and creates the Child SA the initiator proposed.
    func respondToAuth(_ message: IKEMessage, _ sa: inout IKESAState) {
        let peer = sa.remote.address
        let messageID = message.header.messageID
        guard let sendKeys = sa.sendKeys, let keys = sa.keys, let algorithms = sa.algorithms
        else { return }
        guard let identity = message.initiatorID, let auth = message.authentication else {
            log(.warning, "\(peer): IKE_AUTH request without IDi or AUTH")
            sendResponse(
                .ikeAuth, messageID: messageID,
                [.notify(NotifyPayload(type: .invalidSyntax))], &sa, keys: sendKeys)
            return removeIKESA(localSPI: sa.localSPI, reason: "invalid syntax")
        }

        // Profile by identity, key by address; every failure looks the same to the peer.
        func reject(_ reason: String) {
            log(.error, "\(peer): authentication of \(identity.displayText) failed: \(reason)")
            debug("IKEv2:(\(sa.tunnelID)): Sending AUTHENTICATION_FAILED to \(sa.remote)")
            sendResponse(
                .ikeAuth, messageID: messageID,
                [.notify(NotifyPayload(type: .authenticationFailed))], &sa,
                keys: sendKeys)
            removeIKESA(localSPI: sa.localSPI, reason: "authentication failed")
        }
        guard let profile = config.profile(matchingRemote: identity.address ?? peer) else {
            return reject("no IKEv2 profile matches the identity")
        }
        guard let ring = profile.keyringName,
            let keyringPeer = config.keyringPeer(for: peer, in: ring),
            let remoteKey = keyringPeer.remoteKey ?? keyringPeer.localKey,
            let localKey = keyringPeer.localKey ?? keyringPeer.remoteKey
        else {
            return reject("no pre-shared key for \(peer) in profile \(profile.name)")
        }
        guard auth.method == .sharedKeyMIC else {
            return reject("authentication method \(auth.rawMethod) is not pre-share")
        }
        let expected = try? PSKAuthentication.authData(
            prf: algorithms.prf, sharedKey: remoteKey.bytes, message: sa.initRequestBytes,
            peerNonce: sa.responderNonce, identityKey: keys.initiatorIdentity.bytes,
            idPayloadBody: identity.bodyBytes)
        guard let expected, constantTimeEqual(expected, auth.data) else {
            return reject("pre-shared key mismatch")
        }

        // Our own identity and AUTH, signed over our IKE_SA_INIT response.
        let ownIdentity = IDPayload(address: profile.localIdentity ?? sa.local.address)
        guard
            let ownAuth = try? PSKAuthentication.authData(
                prf: algorithms.prf, sharedKey: localKey.bytes, message: sa.initResponseBytes,
                peerNonce: sa.initiatorNonce, identityKey: keys.responderIdentity.bytes,
                idPayloadBody: ownIdentity.bodyBytes)
        else { return reject("AUTH computation failed") }
        sa.localID = ownIdentity.displayText
        sa.profileName = profile.name
        sa.lifetimeSeconds = Int(profile.lifetimeSeconds)
        establish(&sa, remoteID: identity.displayText)

        var payloads: [IKEPayload] = [
            .identificationResponder(ownIdentity),
            .authentication(AuthPayload(method: .sharedKeyMIC, data: ownAuth)),
        ]
        // A Child SA failure leaves the IKE SA up (RFC 7296 §1.2) and sends only the notify.
        do {
            let (child, childPayloads) = try negotiateChildAsResponder(
                message, sa, profile: profile, initiatorNonce: sa.initiatorNonce,
                responderNonce: sa.responderNonce)
            payloads += childPayloads
            installChild(child, &sa)
        } catch let error as IKEProtocolError {
            log(.warning, "\(peer): Child SA not created: \(error)")
            payloads.append(.notify(NotifyPayload(type: error.notifyType)))
        } catch {
            log(.warning, "\(peer): Child SA not created: \(error)")
            payloads.append(.notify(NotifyPayload(type: .noProposalChosen)))
        }
        debug("IKEv2:(\(sa.tunnelID)): Sending AUTH response to \(sa.remote)")
        sendResponse(.ikeAuth, messageID: messageID, payloads, &sa, keys: sendKeys)
        delegate?.engine(self, ikeSAChanged: status(of: sa), up: true)
        resolveDuplicates(remote: sa.remote.address)
    }
}
