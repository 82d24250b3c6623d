// Time-driven work: retransmission with exponential back-off (RFC 7296
// §2.1), expiry of half-open SAs, re-initiation of targets; and the status
// reports built from the SA table.

import TaglineCore

extension IKEEngine {
    /// Retransmits unanswered requests, gives up on silent peers, expires
    /// half-open SAs, initiates targets whose back-off has passed and logs
    /// the summaries of rate-limited drop lines.
    public func handleTimers() {
        let now = clock()
        logDropSummaries(at: now)
        expireFragmentBuffers(at: now)
        for spi in ikeSAs.keys.sorted() {
            guard var sa = ikeSAs[spi] else { continue }
            if var request = sa.outstanding, request.nextRetransmitAt <= now {
                if request.transmissions >= maximumTransmissions,
                    sa.dpdMessageID == request.messageID
                {
                    declarePeerDead(localSPI: spi, transmissions: request.transmissions)
                    continue
                }
                if request.transmissions >= maximumTransmissions {
                    // A peer that only ever rejected IKE_SA_INIT gets its reason reported.
                    let silence =
                        "\(sa.remote.address): no response to \(request.exchange) "
                        + "after \(request.transmissions) transmissions"
                    log(.error, initRejections[spi] ?? silence)
                    let key = sa.targetKey
                    let wasNegotiating = sa.phase == .initSent || sa.phase == .authSent
                    removeIKESA(localSPI: spi, reason: "peer not responding")
                    if wasNegotiating { backOff(targetKey: key) }
                    continue
                }
                var wait = retransmitInterval
                for _ in 0..<request.transmissions { wait *= 2 }
                // A liveness check is retransmitted every RETRY seconds of `dpd`, without back-off.
                if sa.dpdMessageID == request.messageID, let dpd = dpdSettings(sa) {
                    wait = Double(dpd.retry)
                }
                request.transmissions += 1
                request.nextRetransmitAt = now + wait
                sa.outstanding = request
                ikeSAs[spi] = sa
                retransmittedRequests += 1
                debug(
                    "IKEv2:(\(sa.tunnelID)): Retransmitting \(request.exchange) request "
                        + "(\(request.transmissions) of \(maximumTransmissions))")
                transmitMessage(request.bytes, fragments: request.fragments, sa)
            }
            if sa.phase == .halfOpen, now - sa.createdAt >= halfOpenTimeout {
                // Rate-limited, because a flood of IKE_SA_INIT requests expires by the thousand.
                logLimited(
                    "half-open timeout", .info,
                    "\(sa.remote.address): half-open IKE SA \(sa.tunnelID) expired")
                removeIKESA(localSPI: spi, reason: "half-open timeout")
            }
            if let due = sa.childWorkDueAt, due <= now, sa.outstanding == nil {
                startNextChildWork(localSPI: spi)
            }
            if let current = ikeSAs[spi], let due = dpdDueAt(current), due <= now {
                sendLivenessCheck(localSPI: spi)
            }
        }
        handleIKELifetimes(now: now)
        addAdoptedChildren(now: now)
        start()
    }

    /// Creates the Child SAs still missing for targets whose adopted IKE SA
    /// has waited `adoptedChildDelay` for the peer to create them.
    func addAdoptedChildren(now: Double) {
        for key in targets.keys.sorted() {
            guard let state = targets[key], let due = state.childrenDueAt, due <= now else {
                continue
            }
            targets[key]?.childrenDueAt = nil
            if let spi = state.ikeSPI, ikeSAs[spi]?.phase == .established {
                addChildren(of: state.target, toIKESA: spi)
            }
        }
    }

    /// Returns the earliest time at which `handleTimers()` has work, or nil when
    /// nothing is pending.
    public func nextTimerDeadline() -> Double? {
        var deadline: Double?
        func consider(_ time: Double) { deadline = min(deadline ?? time, time) }
        for sa in ikeSAs.values {
            if let request = sa.outstanding { consider(request.nextRetransmitAt) }
            if sa.phase == .halfOpen { consider(sa.createdAt + halfOpenTimeout) }
            if let due = ikeLifetimeDeadline(sa) { consider(due) }
            if let due = dpdDueAt(sa) { consider(due) }
            if sa.phase == .established, sa.outstanding == nil, sa.pendingChild == nil,
                !(sa.queuedChildDeletes ?? []).isEmpty || !(sa.queuedRekeys ?? []).isEmpty,
                let due = sa.childWorkDueAt
            {
                consider(due)
            }
        }
        for state in targets.values {
            if state.ikeSPI == nil && !isPassive { consider(state.nextAttemptAt) }
            if let due = state.childrenDueAt { consider(due) }
        }
        if let summary = dropLog.nextSummaryDeadline { consider(summary) }
        if let expiry = nextFragmentExpiry { consider(expiry) }
        return deadline
    }

    /// Keeps one IKE SA per pair of gateways when both initiated at once: the
    /// gateway with the higher local address deletes the SA it initiated, so
    /// the one initiated by the lower address survives on both sides. The
    /// targets the deleted SA served move to the surviving one and wait
    /// `adoptedChildDelay` for the peer's Child SAs before creating their own.
    func resolveDuplicates(remote: IPAddress) {
        // Only SAs in both roles with one peer can be duplicates.
        guard ikeSAs.hasSAsInBothRoles(remote: remote) else { return }
        let established = ikeSAs.values.filter {
            $0.phase == .established && $0.remote.address == remote
        }
        guard let responderSA = established.first(where: { !$0.isInitiator }),
            responderSA.local.address > remote
        else { return }
        for sa in established where sa.isInitiator {
            log(.info, "\(remote): both gateways initiated; deleting own IKE SA \(sa.tunnelID)")
            let due = clock() + adoptedChildDelay
            for key in targets.keys where targets[key]?.ikeSPI == sa.localSPI {
                targets[key]?.ikeSPI = responderSA.localSPI
                targets[key]?.childrenDueAt = due
            }
            beginDelete(localSPI: sa.localSPI, reason: "duplicate")
        }
    }

    /// Builds the status of one SA in the form of `show crypto ikev2 sa detailed`.
    func status(of sa: IKESAState) -> IKESAStatus {
        let algorithms = sa.algorithms
        let status: String
        switch sa.phase {
        case .established: status = "READY"
        case .deleting: status = "DELETE"
        default: status = "IN-NEG"
        }
        let active = sa.establishedAt.map { Int(max(0, clock() - $0)) } ?? 0
        var result = IKESAStatus(
            tunnelID: sa.tunnelID, localAddress: sa.local.address, localPort: sa.local.port,
            remoteAddress: sa.remote.address, remotePort: sa.remote.port, status: status,
            encryption: algorithms.map { IKEEngine.encryptionName($0.encryption) } ?? "",
            integrity: algorithms.map { IKEEngine.integrityName($0.integrity) } ?? "",
            prf: algorithms.map { IKEEngine.prfName($0.prf) } ?? "",
            dhGroup: Int(algorithms?.dhGroup.rawValue ?? 0), authSign: "PSK",
            authVerify: "PSK", lifetimeSeconds: sa.lifetimeSeconds, activeSeconds: active,
            localSPI: IKESAState.hex16(sa.localSPI), remoteSPI: IKESAState.hex16(sa.remoteSPI),
            localID: sa.localID, remoteID: sa.remoteID,
            localRequestMessageID: sa.nextRequestID == 0 ? 0 : sa.nextRequestID - 1,
            remoteRequestMessageID: sa.expectedPeerRequestID == 0
                ? 0 : sa.expectedPeerRequestID - 1,
            localNextMessageID: sa.nextRequestID, remoteNextMessageID: sa.expectedPeerRequestID,
            isInitiator: sa.isInitiator, natDetected: sa.nat?.isDetected ?? false,
            sgtEnabled: sa.taggingNegotiated, childSAInboundSPIs: sa.childSAs.map(\.inboundSPI))
        result.dpdInterval = dpdSettings(sa)?.interval
        result.dpdRetry = dpdSettings(sa)?.retry
        return result
    }

    /// IOS names: "AES-CBC, keysize: 128", "3DES", "AES-GCM, keysize: 256".
    static func encryptionName(_ algorithm: EncryptionAlgorithm) -> String {
        switch algorithm {
        case .tripleDES: return "3DES"
        case .aesCBC128: return "AES-CBC, keysize: 128"
        case .aesCBC192: return "AES-CBC, keysize: 192"
        case .aesCBC256: return "AES-CBC, keysize: 256"
        case .aesGCM128: return "AES-GCM, keysize: 128"
        case .aesGCM256: return "AES-GCM, keysize: 256"
        // NOTE: no IOS output for ChaCha20-Poly1305 was available to copy, so
        // this spelling follows the AES entries.
        case .chacha20Poly1305: return "CHACHA20-POLY1305, keysize: 256"
        case .null: return "NULL"
        }
    }

    /// IOS names: "SHA256", "SHA96", "MD596"; "None" for the AEAD ciphers.
    static func integrityName(_ algorithm: IntegrityAlgorithm?) -> String {
        switch algorithm {
        case .hmacMD5_96: return "MD596"
        case .hmacSHA1_96: return "SHA96"
        case .hmacSHA256_128: return "SHA256"
        case nil: return "None"
        }
    }

    static func prfName(_ algorithm: PRFAlgorithm) -> String {
        switch algorithm {
        case .hmacMD5: return "MD5"
        case .hmacSHA1: return "SHA1"
        case .hmacSHA256: return "SHA256"
        }
    }
}
