// The IKEv2 engine: a deterministic state machine over datagrams, with the
// clock and randomness injected and no sockets of its own. The exchanges are
// split by role and aspect into IKEEngine+*.swift files.

import TaglineConfig
import TaglineCore
import TaglineCrypto

/// Negotiates IKE SAs and their Child SAs for a gateway configuration.
///
/// The host feeds received datagrams to `receive(_:)`, calls `handleTimers()`
/// when `nextTimerDeadline()` passes, and acts on the delegate's calls. The
/// engine is not thread-safe; call it from one thread.
public final class IKEEngine {
    /// The configuration new IKE SAs are negotiated with.
    public private(set) var config: GatewayConfig
    let clock: () -> Double
    let random: (Int) -> [UInt8]
    /// Weak, because the host usually owns the engine.
    weak var delegate: IKEEngineDelegate?

    /// IKE SAs by this side's SPI.
    var ikeSAs = IKESATable()
    /// Diffie-Hellman private values of SAs still in IKE_SA_INIT, by local SPI.
    var pendingDH: [UInt64: DiffieHellman] = [:]
    /// The proposals each initiator SA sent in IKE_SA_INIT, by local SPI, to check
    /// the response against.
    var offeredIKEProposals: [UInt64: [Proposal]] = [:]
    /// Diffie-Hellman private values of CREATE_CHILD_SA requests with PFS, by
    /// local SPI of the IKE SA. Not persisted: `restore(_:)` cannot finish such a request.
    var pendingChildDH: [UInt64: DiffieHellman] = [:]
    /// Diffie-Hellman private values of this side's IKE SA rekeys, by local SPI of the old SA.
    var pendingRekeyDH: [UInt64: DiffieHellman] = [:]
    /// The proposals each IKE SA rekey request offered, by local SPI of the old SA.
    var offeredRekeyProposals: [UInt64: [Proposal]] = [:]
    /// Initiation state per target key.
    var targets: [String: TargetState] = [:]
    /// The reason the IKE_SA_INIT response of an initiator SA could not be
    /// used, by local SPI. It is logged when the request's retransmissions run out.
    var initRejections: [UInt64: String] = [:]
    var nextTunnelID = 1
    /// Dropped datagrams by reason.
    var counters: [String: UInt64] = [:]
    /// The rate limit of the log lines about drops, per reason.
    var dropLog = DropLogLimiter(burst: 5, interval: 60)

    /// Back-off after a failed initiation: the first retry waits this long,
    /// each further one twice as long, up to `maximumInitiationBackoff`.
    public var initialInitiationBackoff: Double = 10
    public var maximumInitiationBackoff: Double = 600
    /// Wait before the first retransmission of a request; doubled for each further one.
    public var retransmitInterval: Double = 1
    /// Transmissions of one request, the first one included, before the peer counts as dead.
    public var maximumTransmissions = 5
    /// A responder drops an IKE SA whose IKE_AUTH did not arrive within this many
    /// seconds. 30 s covers an initiator that retransmits IKE_AUTH on this
    /// engine's schedule (at 1, 3, 7 and 15 s), and frees the SAs a flood of
    /// IKE_SA_INIT requests creates within half a minute.
    public var halfOpenTimeout: Double = 30
    /// The maximum number of responder SAs waiting for IKE_AUTH. Further
    /// IKE_SA_INIT requests are dropped, counted as "half-open limit reached",
    /// before any Diffie-Hellman work.
    public var maximumHalfOpenSAs = 1000
    /// Wait between installing the Child SA of a rekey and sending the Delete
    /// for the old one, so that both dataplanes lease sequence numbers for the
    /// new SA and drain packets still in flight on the old one.
    public var rekeyDeleteDelay: Double = 1
    /// Seconds a target served by an IKE SA the peer initiated waits before it
    /// creates its own Child SAs. A peer with the same crypto map entry creates
    /// them right after IKE_AUTH, and creating them here too would make two
    /// pairs for the same selectors. 4 s covers two lost requests (1 s + 2 s).
    public var adoptedChildDelay: Double = 4
    /// Base wait before an IKE SA or Child SA exchange that the peer rejected
    /// with TEMPORARY_FAILURE, or an IKE SA rekey that failed, is tried again.
    /// A random extra of up to the same again keeps both peers from retrying at once.
    public var rekeyRetryInterval: Double = 10
    /// A passive engine only responds: `start()` and the timers initiate nothing.
    public var isPassive = false

    /// From this many half-open SAs on, an IKE_SA_INIT request without a valid
    /// COOKIE gets only a COOKIE in response (RFC 7296 §2.6), unless the
    /// configuration sets `crypto ikev2 cookie-challenge`. 50 is 5% of the
    /// default `maximumHalfOpenSAs`: a normal load stays below it.
    public var cookieThreshold = 50
    /// The threshold in use: `crypto ikev2 cookie-challenge`, else `cookieThreshold`.
    var effectiveCookieThreshold: Int { config.cookieChallenge ?? cookieThreshold }
    /// Seconds one COOKIE secret is used. The previous secret stays valid for
    /// one more period, so a cookie is accepted for at least this long.
    public var cookieSecretLifetime: Double = 60
    /// The secrets COOKIE values are computed with; made on first use.
    var cookieSecrets: CookieSecrets?
    /// Offer and accept IKE fragmentation (RFC 7383) in IKE_SA_INIT.
    public var fragmentationEnabled = true
    /// The largest IKE message sent in one datagram once fragmentation is
    /// negotiated. nil uses the RFC 7383 §2.5.1 recommendation: a 576-byte
    /// IPv4 or 1280-byte IPv6 datagram, minus the IP, UDP and non-ESP marker headers.
    public var maximumFragmentMessageSize: Int?
    /// A fragmented message announcing more fragments than this is dropped.
    public var maximumFragmentsPerMessage = 64
    /// A fragmented message whose content grows beyond this many bytes is dropped.
    public var maximumReassemblyBytes = 65_536
    /// An incomplete fragmented message is dropped this many seconds after its
    /// first fragment arrived; 30 s covers the retransmission schedule.
    public var reassemblyTimeout: Double = 30
    /// The fragment bytes held for all messages being reassembled together.
    /// Further fragments are dropped; the peers retransmit them later.
    public var maximumTotalReassemblyBytes = 8 << 20
    /// Fragments of messages being reassembled, at most one message per SA and direction.
    var reassembly: [FragmentKey: FragmentBuffer] = [:]
    /// The content bytes of all buffers in `reassembly`.
    var reassemblyBytes = 0
    /// ESP traffic reported by the host, by local SPI of the IKE SA, for dead peer detection.
    var espActivity: [UInt64: ESPActivity] = [:]

    /// Initiation bookkeeping for one crypto map entry or tunnel.
    struct TargetState {
        var target: InitiationTarget
        /// Local SPI of the IKE SA serving this target, if any.
        var ikeSPI: UInt64?
        var failures = 0
        var nextAttemptAt: Double = 0
        /// Time at which the target creates the Child SAs the peer has not
        /// created, when it is served by an IKE SA the peer initiated.
        var childrenDueAt: Double?
    }

    public init(
        config: GatewayConfig, clock: @escaping () -> Double,
        random: @escaping (Int) -> [UInt8], delegate: IKEEngineDelegate
    ) {
        self.config = config
        self.clock = clock
        self.random = random
        self.delegate = delegate
        refreshTargets()
    }

    /// Returns random bytes from OpenSSL's CSPRNG, the `random` a service passes to `init`.
    public static func systemRandom(_ count: Int) -> [UInt8] {
        secureRandomBytes(count)
    }

    // MARK: Public API

    /// Initiates an IKE SA for every crypto map entry with a peer and every
    /// tunnel with a destination that has none and is not backing off.
    public func start() {
        guard !isPassive else { return }
        let now = clock()
        for key in targets.keys.sorted() {
            guard let state = targets[key], state.ikeSPI == nil, state.nextAttemptAt <= now
            else { continue }
            initiate(targetKey: key)
        }
    }

    /// Requests sent again because their response did not arrive in time.
    public internal(set) var retransmittedRequests: UInt64 = 0
    /// Cached responses sent again for retransmitted requests.
    public internal(set) var retransmittedResponses: UInt64 = 0

    /// Processes one received datagram. Bad input is counted in `dropCounters` and dropped.
    public func receive(_ datagram: IKEDatagram) {
        let received: ReceivedMessage
        do {
            received = try ReceivedMessage.decode(datagram.bytes)
        } catch let error as IKEDecodeError {
            drop("malformed", "\(datagram.remote): malformed message: \(error)")
            return
        } catch {
            drop("malformed", "\(datagram.remote): malformed message: \(error)")
            return
        }
        let header = received.header

        // An IKE_SA_INIT request opens a new SA (or repeats one still half open).
        if header.exchangeType == .ikeSAInit, !header.isResponse {
            respondToInit(received, datagram)
            return
        }

        // The I flag marks the original initiator, which identifies the SPI that is ours.
        let localSPI = header.isInitiator ? header.responderSPI : header.initiatorSPI
        let remoteSPI = header.isInitiator ? header.initiatorSPI : header.responderSPI
        guard var sa = ikeSAs[localSPI], sa.isInitiator != header.isInitiator,
            sa.remoteSPI == remoteSPI || (sa.phase == .initSent && sa.responderSPI == 0)
        else {
            drop("unknown SPI", "\(datagram.remote): message for an unknown IKE SA")
            return
        }

        if header.isResponse {
            guard let outstanding = sa.outstanding, outstanding.messageID == header.messageID,
                outstanding.exchange == header.exchangeType
            else {
                drop(
                    "unexpected response",
                    "\(sa.remote.address): response \(header.messageID) not awaited")
                return
            }
            handleResponse(received, datagram, &sa)
        } else {
            handleRequest(received, datagram, &sa)
        }
    }

    /// Replaces the configuration. Existing IKE SAs keep what they negotiated,
    /// including the tagging decision; new SAs and new initiations use `newConfig`.
    public func updateConfig(_ newConfig: GatewayConfig) {
        config = newConfig
        refreshTargets()
    }

    /// Returns the IKE SAs in tunnel id order, as `show crypto ikev2 sa` lists them.
    public func ikeSAStatuses() -> [IKESAStatus] {
        ikeSAs.values.sorted { $0.tunnelID < $1.tunnelID }.map(status(of:))
    }

    /// Deletes one IKE SA (by tunnel id) or all of them, and returns how many
    /// it deleted. Each established SA sends a Delete to its peer and is
    /// removed when the response arrives or its retransmissions run out. Its
    /// Child SAs are removed at once. A target whose SA is deleted is
    /// initiated again by a later `handleTimers()`.
    @discardableResult
    public func clear(tunnelID: Int?) -> Int {
        let chosen = ikeSAs.values.filter { tunnelID == nil || $0.tunnelID == tunnelID }
        var negotiating = 0
        for sa in chosen.sorted(by: { $0.tunnelID < $1.tunnelID }) {
            // One line per established SA; those still negotiating, which a
            // flood of IKE_SA_INIT requests can create by the thousand, share one.
            if sa.phase == .established || tunnelID != nil {
                log(.notice, "\(sa.remote.address): IKE SA \(sa.tunnelID) cleared by operator")
            } else {
                negotiating += 1
            }
            beginDelete(localSPI: sa.localSPI, reason: "cleared")
        }
        if negotiating > 0 {
            log(.notice, "\(negotiating) IKE SAs still negotiating cleared by operator")
        }
        return chosen.count
    }

    /// Dropped datagrams by reason, such as "malformed" or "integrity check failed".
    public var dropCounters: [String: UInt64] { counters }

    /// Counts a datagram that the host dropped before it reached the engine,
    /// such as one on port 4500 without the non-ESP marker, so that
    /// `dropCounters` and the rate-limited drop log include it.
    public func countHostDrop(reason: String, detail: String) {
        drop(reason, detail)
    }

    /// The number of IKE SAs in phase `established`.
    public var establishedSACount: Int {
        ikeSAs.values.reduce(0) { $0 + ($1.phase == .established ? 1 : 0) }
    }

    /// The number of responder SAs waiting for IKE_AUTH, at most `maximumHalfOpenSAs`.
    public var halfOpenSACount: Int { ikeSAs.halfOpen.count }

    /// Returns the IKE SAs as value types, in tunnel id order.
    public func exportStates() -> [IKESAState] {
        ikeSAs.values.sorted { $0.tunnelID < $1.tunnelID }
    }

    /// Returns what persistent storage needs since the last call: the
    /// established SAs that are new or changed, and the SAs that are gone or
    /// no longer established. SAs still negotiating are never included,
    /// because `restore(_:)` takes back only established ones.
    public func takeStateChanges() -> IKEStateChanges {
        var changes = IKEStateChanges(updated: [], removed: [])
        for spi in ikeSAs.takeChanged().sorted() {
            guard let sa = ikeSAs[spi] else {
                changes.removed.append(spi)
                continue
            }
            if sa.phase == .established {
                changes.updated.append(sa)
            } else if sa.establishedAt != nil {
                // Being deleted: a restart must not bring it back.
                changes.removed.append(spi)
            }
        }
        return changes
    }

    /// Hands back changes from `takeStateChanges()` that could not be saved,
    /// so that the next call returns them again, with the SAs as they are then.
    public func returnStateChanges(_ changes: IKEStateChanges) {
        ikeSAs.markChanged(changes.updated.map(\.localSPI) + changes.removed)
    }

    /// Takes back established IKE SAs saved by `exportStates()`, such as after a
    /// restart. SAs that were still negotiating are dropped, and their targets initiate again.
    public func restore(_ states: [IKESAState]) {
        var restored: [UInt64] = []
        for var state in states where state.phase == .established {
            // An unfinished rekey or Child SA Delete is retransmitted unchanged,
            // because the peer may have processed it already.
            let resumable =
                state.pendingChild?.rekeyedInboundSPI != nil || state.pendingChildDeletes != nil
                || state.pendingIKERekey != nil
            if !resumable {
                state.outstanding = nil
                state.dpdMessageID = nil
            }
            prepareRestoredLifetime(&state)
            state.childWorkDueAt = clock()
            ikeSAs[state.localSPI] = state
            if state.outstanding != nil { restorePendingExchanges(state) }
            restored.append(state.localSPI)
            nextTunnelID = max(nextTunnelID, state.tunnelID + 1)
            if let key = state.targetKey, targets[key] != nil {
                targets[key]?.ikeSPI = state.localSPI
            }
        }
        // Storage already contains them as they are.
        ikeSAs.markUnchanged(restored)
    }

    // MARK: Shared helpers

    /// Rebuilds the target table from the configuration, keeping the state of unchanged targets.
    func refreshTargets() {
        var fresh: [String: TargetState] = [:]
        for target in config.initiationTargets() {
            var state = targets[target.key] ?? TargetState(target: target)
            state.target = target
            fresh[target.key] = state
        }
        targets = fresh
    }

    /// Counts a dropped datagram under `reason` and logs `detail`, rate-limited per reason.
    func drop(_ reason: String, _ detail: String, level: LogLevel = .debug) {
        counters[reason, default: 0] += 1
        logLimited(reason, level, "\(detail) (dropped)")
    }

    /// Logs `message` unless `reason` has used up its lines of the current interval.
    func logLimited(_ reason: String, _ level: LogLevel, _ message: String) {
        let now = clock()
        logDropSummaries(at: now)
        if dropLog.shouldLog(reason, level: level, at: now) {
            log(level, message)
        }
    }

    /// Logs one line per reason whose interval ended with lines left out.
    func logDropSummaries(at now: Double) {
        for summary in dropLog.endIntervals(at: now) {
            log(
                summary.level,
                "\(summary.reason): \(summary.suppressed) more in the last "
                    + "\(Int(dropLog.interval)) s, not logged one by one")
        }
    }

    func log(_ level: LogLevel, _ message: String) {
        delegate?.engine(self, log: level, message)
    }

    func debug(_ line: String) {
        delegate?.engine(self, debug: line)
    }

    /// Returns a fresh, unused, non-zero SPI for a new IKE SA.
    func newLocalSPI() -> UInt64 {
        while true {
            let bytes = random(8)
            let spi = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if spi != 0, ikeSAs[spi] == nil { return spi }
        }
    }

    func allocateTunnelID() -> Int {
        defer { nextTunnelID += 1 }
        return nextTunnelID
    }

    /// Sends `bytes` from the SA's current local endpoint to its remote one.
    func transmit(_ bytes: [UInt8], _ sa: IKESAState) {
        delegate?.engine(self, send: IKEDatagram(local: sa.local, remote: sa.remote, bytes: bytes))
    }

    /// Builds, sends and remembers a protected request; a request already
    /// outstanding makes this one wait, because the window size is 1 (§2.3).
    @discardableResult
    func sendRequest(
        _ exchange: ExchangeType, _ payloads: [IKEPayload], _ sa: inout IKESAState,
        keys: SKKeys
    ) -> Bool {
        guard sa.outstanding == nil else {
            log(.debug, "\(sa.remote.address): request dropped, another one is outstanding")
            return false
        }
        let header = IKEHeader(
            initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI, nextPayload: 0,
            exchangeType: exchange, isInitiator: sa.isInitiator, isResponse: false,
            messageID: sa.nextRequestID)
        let message = IKEMessage(header: header, payloads: payloads)
        guard let bytes = try? message.encodeProtected(with: keys, random: random) else {
            log(.error, "\(sa.remote.address): could not encrypt \(exchange) request")
            return false
        }
        let fragments = fragmentsIfNeeded(message, whole: bytes, sa, keys: keys)
        let now = clock()
        sa.outstanding = OutstandingRequest(
            messageID: sa.nextRequestID, exchange: exchange, bytes: bytes, firstSentAt: now,
            transmissions: 1, nextRetransmitAt: now + retransmitInterval, fragments: fragments)
        sa.nextRequestID &+= 1
        transmitMessage(bytes, fragments: fragments, sa)
        ikeSAs[sa.localSPI] = sa
        return true
    }

    /// Builds, sends and caches the protected response to request `messageID`.
    func sendResponse(
        _ exchange: ExchangeType, messageID: UInt32, _ payloads: [IKEPayload],
        _ sa: inout IKESAState, keys: SKKeys
    ) {
        let header = IKEHeader(
            initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI, nextPayload: 0,
            exchangeType: exchange, isInitiator: sa.isInitiator, isResponse: true,
            messageID: messageID)
        let message = IKEMessage(header: header, payloads: payloads)
        guard let bytes = try? message.encodeProtected(with: keys, random: random) else {
            log(.error, "\(sa.remote.address): could not encrypt \(exchange) response")
            return
        }
        let fragments = fragmentsIfNeeded(message, whole: bytes, sa, keys: keys)
        sa.lastResponse = CachedResponse(messageID: messageID, bytes: bytes, fragments: fragments)
        sa.expectedPeerRequestID = messageID &+ 1
        transmitMessage(bytes, fragments: fragments, sa)
        ikeSAs[sa.localSPI] = sa
    }

    /// Deletes the Child SAs of an established SA and sends the Delete for the
    /// IKE SA. The SA stays in phase `deleting` until the peer responds. An SA
    /// that is not established, or has a request outstanding, is removed at once.
    func beginDelete(localSPI: UInt64, reason: String) {
        guard var sa = ikeSAs[localSPI] else { return }
        guard sa.phase == .established, sa.outstanding == nil, let keys = sa.sendKeys else {
            return removeIKESA(localSPI: localSPI, reason: reason)
        }
        for child in sa.childSAs {
            delegate?.engine(self, deleteChildSA: child.inboundSPI)
        }
        sa.childSAs = []
        sa.pendingChild = nil
        sa.queuedChildren = []
        log(.notice, "\(sa.remote.address): IKE SA \(sa.tunnelID) down (\(reason))")
        delegate?.engine(self, ikeSAChanged: status(of: sa), up: false)
        sa.phase = .deleting
        releaseTargets(of: localSPI)
        sendRequest(.informational, [.delete(.ikeSA)], &sa, keys: keys)
    }

    /// Forgets an IKE SA and deletes its Child SAs; its target may initiate again.
    func removeIKESA(localSPI: UInt64, reason: String) {
        guard let sa = ikeSAs.removeValue(forKey: localSPI) else { return }
        discardFragments(of: localSPI)
        espActivity[localSPI] = nil
        pendingDH[localSPI] = nil
        offeredIKEProposals[localSPI] = nil
        pendingChildDH[localSPI] = nil
        pendingRekeyDH[localSPI] = nil
        offeredRekeyProposals[localSPI] = nil
        initRejections[localSPI] = nil
        for child in sa.childSAs {
            delegate?.engine(self, deleteChildSA: child.inboundSPI)
        }
        releaseTargets(of: localSPI)
        if sa.phase == .established, let successor = sa.replacedBySPI {
            log(
                .info,
                "\(sa.remote.address): IKE SA \(sa.tunnelID) removed, IKE SA "
                    + "\(ikeSAs[successor]?.tunnelID ?? 0) replaced it (\(reason))")
            var down = status(of: sa)
            down.status = "DELETE"
            delegate?.engine(self, ikeSAChanged: down, up: false)
        } else if sa.phase == .established {
            log(.notice, "\(sa.remote.address): IKE SA \(sa.tunnelID) down (\(reason))")
            var down = status(of: sa)
            down.status = "DELETE"
            delegate?.engine(self, ikeSAChanged: down, up: false)
        }
    }

    /// Detaches every target served by the SA with `localSPI`, including one
    /// that adopted an SA the peer initiated.
    func releaseTargets(of localSPI: UInt64) {
        for key in targets.keys where targets[key]?.ikeSPI == localSPI {
            targets[key]?.ikeSPI = nil
            targets[key]?.childrenDueAt = nil
        }
    }

    /// Records a failed initiation and schedules the next attempt with back-off.
    func backOff(targetKey: String?) {
        guard let key = targetKey, var state = targets[key] else { return }
        state.failures += 1
        let exponent = Double(min(state.failures - 1, 30))
        var delay = initialInitiationBackoff
        for _ in 0..<Int(exponent) { delay *= 2 }
        state.nextAttemptAt = clock() + min(delay, maximumInitiationBackoff)
        state.ikeSPI = nil
        state.childrenDueAt = nil
        targets[key] = state
    }
}
