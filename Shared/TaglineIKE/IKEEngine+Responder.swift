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
        if let existing = ikeSAs.values.first(where: {
            !$0.isInitiator && $0.initiatorSPI == header.initiatorSPI
                && $0.remote.address == datagram.remote.address
        }) {
            if existing.phase == .halfOpen, let cached = existing.lastResponse,
                cached.messageID == 0
            {
                counters["retransmitted response", default: 0] += 1
                transmit(cached.bytes, existing)
            } else {
                drop("unexpected IKE_SA_INIT", "\(datagram.remote): IKE_SA_INIT for a known SA")
            }
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
            log(.warning, "\(peer): IKE_SA_INIT request without valid SA, KE and Ni payloads")
            return replyInitError(header, datagram, NotifyPayload(type: .invalidSyntax))
        }
        let configured = config.proposals(forLocal: datagram.local.address)
        guard
            let (algorithms, chosen) = ProposalSelection.chooseIKE(
                offered: offered.proposals, configured: configured, keGroup: ke.groupNumber)
        else {
            log(
                .warning,
                "\(peer): no acceptable IKE proposal among "
                    + "\(offered.proposals.count) offered")
            return replyInitError(header, datagram, NotifyPayload(type: .noProposalChosen))
        }
        guard ke.groupNumber == algorithms.dhGroup.rawValue else {
            log(
                .info,
                "\(peer): KE in group \(ke.groupNumber), asking for group "
                    + "\(algorithms.dhGroup.rawValue)")
            let group = algorithms.dhGroup.rawValue
            let notify = NotifyPayload(
                type: .invalidKEPayload, data: [UInt8(group >> 8), UInt8(group & 0xFF)])
            return replyInitError(header, datagram, notify)
        }

        // Key exchange.
        let dh: DiffieHellman
        let secret: [UInt8]
        do {
            try ke.validate()
            dh = try DiffieHellman(group: algorithms.dhGroup)
            secret = try dh.computeSharedSecret(peerPublicValue: ke.keyExchangeData)
        } catch {
            log(.warning, "\(peer): invalid KE payload: \(error)")
            return replyInitError(header, datagram, NotifyPayload(type: .invalidSyntax))
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

        do {
            sa.keys = try IKESAKeys.derive(
                prf: algorithms.prf, encryption: algorithms.encryption,
                integrity: algorithms.integrity, sharedSecret: secret,
                initiatorNonce: sa.initiatorNonce, responderNonce: sa.responderNonce,
                initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI)
        } catch {
            log(.error, "\(peer): IKE key derivation failed: \(error)")
            return replyInitError(header, datagram, NotifyPayload(type: .noProposalChosen))
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

    /// Sends one error notify in clear for an IKE_SA_INIT request and keeps no state.
    func replyInitError(_ request: IKEHeader, _ datagram: IKEDatagram, _ notify: NotifyPayload) {
        counters["IKE_SA_INIT rejected", default: 0] += 1
        let header = IKEHeader(
            initiatorSPI: request.initiatorSPI, responderSPI: 0, nextPayload: 0,
            exchangeType: .ikeSAInit, isInitiator: false, isResponse: true, messageID: 0)
        let bytes = IKEMessage(header: header, payloads: [.notify(notify)]).encodeClear()
        delegate?.engine(
            self, send: IKEDatagram(local: datagram.local, remote: datagram.remote, bytes: bytes))
    }

    /// Handles a request on an existing SA: decrypts it, resends the cached
    /// response for a retransmission, and dispatches the exchange.
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
        let message: IKEMessage
        do {
            message = try received.decrypt(with: keys)
        } catch IKEProtocolError.integrityCheckFailed {
            drop("integrity check failed", "\(peer): request \(header.messageID) failed its ICV")
            return
        } catch {
            // Authentic but malformed inside: the expected request gets INVALID_SYNTAX.
            // An established SA survives it; a half-open one ends.
            guard header.messageID == sa.expectedPeerRequestID else {
                drop("malformed", "\(peer): malformed request \(header.messageID): \(error)")
                return
            }
            counters["malformed", default: 0] += 1
            log(.warning, "\(peer): malformed \(header.exchangeType) request: \(error)")
            sendResponse(
                header.exchangeType, messageID: header.messageID,
                [.notify(NotifyPayload(type: .invalidSyntax))], &sa, keys: sendKeys)
            if sa.phase == .halfOpen {
                removeIKESA(localSPI: sa.localSPI, reason: "invalid syntax")
            }
            return
        }

        if let cached = sa.lastResponse, cached.messageID == header.messageID {
            counters["retransmitted response", default: 0] += 1
            transmit(cached.bytes, sa)
            return
        }
        guard header.messageID == sa.expectedPeerRequestID else {
            drop(
                "unexpected message ID",
                "\(peer): request \(header.messageID), expected \(sa.expectedPeerRequestID)")
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
