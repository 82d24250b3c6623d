// The SAD of the gateway: SPI allocation, installed Child SAs, outbound
// sequence-number leases and counter totals, all persisted in SQLite before
// a request is acknowledged, and served to the dataplane as a clone table.

import TaglineBus
import TaglineCore
import TaglineStore

final class SAManager {
    private let bus: ServiceBus
    private let store: ChildSAStore
    private let logger: Logger
    private var childSAs: [UInt32: ChildSA] = [:]
    private var ledger: CounterLedger
    /// MTUs from the dataplane's last report, keyed by inbound SPI in decimal.
    private var pathMTUs: [String: SAPathMTU] = [:]
    private let clone: CloneServer<ChildSA>
    private let confirmations: InstallConfirmations
    private var generator = SystemRandomNumberGenerator()
    /// The drawn soft-lifetime fraction of each SA, by inbound SPI.
    private var softFractions: [UInt32: Double] = [:]
    /// When the soft-lifetime event of each SA was published.
    private var softExpiredAt: [UInt32: Double] = [:]
    /// Installs received in this loop turn. They are stored in one
    /// transaction when the turn ends, which costs one commit instead of one each.
    private var stagedInstalls: [(childSA: ChildSA, responder: Responder)] = []
    /// The hard kilobyte lifetime deletes an SA no sooner than this many
    /// seconds after its soft event: at lab speeds traffic can cross both
    /// limits between two checks, and the rekey needs a round trip to finish.
    static let rekeyGrace: Double = 2

    /// Largest lease granted per request: 2^32 numbers, the whole space of an SA without ESN.
    static let maxLeaseCount: UInt64 = 1 << 32
    /// One past the last sequence number of an SA without ESN (RFC 4303 §3.3.3: the
    /// counter must not wrap, so the SA is rekeyed before it reaches 2^32 - 1).
    static let sequenceSpaceEnd: UInt64 = 1 << 32
    /// Leases of an SA without ESN that reach this number trigger its soft lifetime, so
    /// the negotiator rekeys it with 10% of the 32-bit space left.
    static let sequenceSoftLimit: UInt64 = sequenceSpaceEnd / 10 * 9
    /// SAs without ESN whose leases passed `sequenceSoftLimit`, by inbound SPI.
    private var sequenceSpaceLow: Set<UInt32> = []
    /// SPI reservations older than this many seconds without an installed SA are freed.
    static let reservationTimeout: Double = 600

    init(bus: ServiceBus, store: ChildSAStore) throws {
        self.bus = bus
        self.store = store
        self.logger = bus.logger
        for childSA in try store.loadAll() { childSAs[childSA.inboundSPI] = childSA }
        ledger = try store.loadCounters()
        var items: [String: ChildSA] = [:]
        for (spi, childSA) in childSAs { items[String(spi)] = childSA }
        clone = bus.cloneServer(
            updateType: MessageType.childUpdate, snapshotType: MessageType.childSnapshot,
            initialItems: items)
        confirmations = InstallConfirmations(bus: bus)
        logger.notice("CHILD", "loaded \(childSAs.count) Child SAs from the store")
        registerHandlers()
        bus.subscribe(to: .dataplane, type: MessageType.counterReport) {
            [unowned self] (report: CounterReport, _) in receive(report)
        }
        bus.loop.addTimer(every: 1) { [unowned self] in expireChildSAs(now: wallClockSeconds()) }
        bus.loop.addTimer(every: 60) { [unowned self] in releaseStaleReservations() }
    }

    private func registerHandlers() {
        bus.handle(MessageType.spiAllocate) {
            [unowned self] (request: SPIAllocateRequest, envelope) in
            let count = min(max(request.count ?? 1, 1), SPIAllocateRequest.maximumCount)
            let spis = try store.allocateSPIs(
                count: count, at: wallClockSeconds(), using: &generator)
            let more = spis.count > 1 ? " and \(spis.count - 1) more" : ""
            logger.info("CHILD", "SPI \(hex(spis[0]))\(more) reserved for \(envelope.sender)")
            return SPIAllocateReply(
                spi: spis[0], additionalSPIs: spis.count > 1 ? Array(spis.dropFirst()) : nil)
        }
        bus.handleDeferred(MessageType.childInstall) {
            [unowned self] (request: ChildSAInstallRequest, _, responder) in
            do {
                try SAManager.validate(request.childSA)
            } catch {
                logger.warning(
                    "CHILD", "install of \(hex(request.childSA.inboundSPI)) rejected: \(error)")
                return responder.fail(error)
            }
            stageInstall(request.childSA, responder)
        }
        bus.handle(MessageType.childDelete) { [unowned self] (request: ChildSADeleteRequest, _) in
            storeStagedInstalls()
            guard try delete(inboundSPI: request.inboundSPI, reason: "deleted by request") else {
                throw ErrorReply(message: "no Child SA with inbound SPI \(hex(request.inboundSPI))")
            }
            return EmptyReply()
        }
        bus.handle(MessageType.sequenceLease) {
            [unowned self] (request: SequenceLeaseRequest, envelope) in
            storeStagedInstalls()
            let reply = try lease(request)
            confirmations.leaseRequested(request.inboundSPI, by: envelope.sender)
            return reply
        }
        bus.handle(MessageType.childList) { [unowned self] (_: EmptyRequest, _) in
            storeStagedInstalls()
            return ChildSAListReply(
                childSAs: childSAs.keys.sorted().map { spi in
                    ChildSAStatus(
                        childSA: childSAs[spi]!, counters: ledger.total(inboundSPI: spi),
                        pathMTU: pathMTUs[String(spi)])
                })
        }
    }

    /// Queues a validated install until the loop turn ends. Requests that
    /// read or change the SAs store the queued installs first, so they see them.
    private func stageInstall(_ childSA: ChildSA, _ responder: Responder) {
        if stagedInstalls.isEmpty {
            // A timer due now runs after the sockets' handlers of this turn.
            bus.loop.addOneShot(after: 0) { [unowned self] in storeStagedInstalls() }
        }
        stagedInstalls.append((childSA, responder))
    }

    /// Stores the queued installs in one transaction, then publishes and
    /// confirms each. When storing fails, every one of them fails.
    private func storeStagedInstalls() {
        guard !stagedInstalls.isEmpty else { return }
        let batch = stagedInstalls
        stagedInstalls = []
        do {
            try store.save(batch.map(\.childSA), at: wallClockSeconds())
        } catch {
            logger.error("CHILD", "storing \(batch.count) Child SAs failed: \(error)")
            for item in batch { item.responder.fail(error) }
            return
        }
        for item in batch {
            applyInstall(item.childSA)
            confirmations.confirmWhenInstalled(item.childSA.inboundSPI, item.responder)
        }
    }

    /// Puts a stored Child SA into the table and the clone, and logs it.
    private func applyInstall(_ childSA: ChildSA) {
        let replaced = childSAs.updateValue(childSA, forKey: childSA.inboundSPI) != nil
        clone.set(String(childSA.inboundSPI), childSA)
        let tagging = childSA.taggingNegotiated ? "on" : "off"
        logger.notice(
            "CHILD",
            "\(hex(childSA.inboundSPI))/\(hex(childSA.outboundSPI)) "
                + "\(replaced ? "replaced" : "installed"): \(childSA.localAddress) <-> "
                + "\(childSA.remoteAddress), \(childSA.encryption.rawValue), "
                + "IKE SA \(childSA.ikeSAName), inline tagging \(tagging)")
    }

    /// Rejects SAs the dataplane could not use: reserved SPIs and keys
    /// whose length does not match the algorithms.
    static func validate(_ childSA: ChildSA) throws {
        let name = hex(childSA.inboundSPI)
        guard childSA.inboundSPI >= ChildSAStore.minimumSPI else {
            throw ErrorReply(message: "inbound SPI \(name) is reserved (SPIs below 256)")
        }
        guard childSA.outboundSPI >= ChildSAStore.minimumSPI else {
            throw ErrorReply(
                message: "Child SA \(name): outbound SPI \(hex(childSA.outboundSPI)) is reserved")
        }
        let encryptionLength = childSA.encryption.keyMaterialLength
        let integrityLength = childSA.integrity?.keyLength ?? 0
        if childSA.encryption.isAEAD && childSA.integrity != nil {
            throw ErrorReply(
                message: "Child SA \(name): \(childSA.encryption.rawValue) "
                    + "takes no integrity algorithm")
        }
        for (direction, keys) in [
            ("inbound", childSA.inboundKeys),
            ("outbound", childSA.outboundKeys),
        ] {
            guard keys.encryptionKey.bytes.count == encryptionLength else {
                throw ErrorReply(
                    message: "Child SA \(name): \(direction) encryption key has "
                        + "\(keys.encryptionKey.bytes.count) bytes, expected \(encryptionLength)")
            }
            guard keys.integrityKey.bytes.count == integrityLength else {
                throw ErrorReply(
                    message: "Child SA \(name): \(direction) integrity key has "
                        + "\(keys.integrityKey.bytes.count) bytes, expected \(integrityLength)")
            }
        }
    }

    /// Deletes an SA everywhere; returns false when it was not installed.
    func delete(inboundSPI: UInt32, reason: String) throws -> Bool {
        let existed = try store.delete(inboundSPI: inboundSPI)
        confirmations.deleted(inboundSPI)
        guard let childSA = childSAs.removeValue(forKey: inboundSPI) else { return existed }
        ledger.remove(inboundSPI: inboundSPI)
        softFractions[inboundSPI] = nil
        softExpiredAt[inboundSPI] = nil
        sequenceSpaceLow.remove(inboundSPI)
        clone.remove(String(inboundSPI))
        logger.notice(
            "CHILD", "\(hex(inboundSPI))/\(hex(childSA.outboundSPI)) removed: \(reason)")
        return true
    }

    private func lease(_ request: SequenceLeaseRequest) throws -> SequenceLeaseReply {
        let name = hex(request.inboundSPI)
        guard request.count > 0 else {
            throw ErrorReply(message: "sequence lease for \(name) requests 0 numbers")
        }
        // Without ESN, leases stop at 2^32 - 1; with ESN they run up to 2^64 - 1.
        var count = min(request.count, SAManager.maxLeaseCount)
        let usesESN = childSAs[request.inboundSPI]?.usesExtendedSequenceNumbers ?? false
        if !usesESN {
            let next = try store.nextSequence(inboundSPI: request.inboundSPI)
            count = min(count, SAManager.sequenceSpaceEnd - min(next, SAManager.sequenceSpaceEnd))
        }
        guard
            let lease = try store.leaseSequenceNumbers(
                inboundSPI: request.inboundSPI,
                count: count)
        else {
            throw ErrorReply(message: "no Child SA with inbound SPI \(name)")
        }
        guard lease.count > 0 else {
            throw ErrorReply(
                message: "Child SA \(name) has used its whole sequence number space; rekey it")
        }
        logger.debug("CHILD", "\(name) leased sequence \(lease.first) +\(lease.count)")
        if !usesESN, lease.first + lease.count >= SAManager.sequenceSoftLimit,
            sequenceSpaceLow.insert(request.inboundSPI).inserted
        {
            logger.info("CHILD", "\(name) leased past 90% of its 32-bit sequence numbers")
            expireChildSAs(now: wallClockSeconds())
        }
        return SequenceLeaseReply(first: lease.first, count: lease.count)
    }

    private func receive(_ report: CounterReport) {
        storeStagedInstalls()
        if let paths = report.pathMTUs { pathMTUs = paths }
        guard let changed = ledger.apply(report) else {
            logger.info("CHILD", "ignored a counter report from an earlier dataplane run")
            return
        }
        let installed = changed.filter { childSAs[$0] != nil }
        guard !installed.isEmpty else { return }
        do {
            try store.saveCounters(ledger, spis: installed)
        } catch {
            logger.error("CHILD", "storing counters of \(installed.count) SAs failed: \(error)")
        }
        // Kilobyte lifetimes are checked as the bytes arrive, not only once a second.
        expireChildSAs(now: wallClockSeconds())
    }

    /// Publishes `childExpiring` once per SA at its soft lifetime, and deletes
    /// SAs past their hard lifetime in seconds or kilobytes after publishing
    /// it with `hard` set. The negotiator rekeys at the soft lifetime, and the
    /// hard one covers a negotiator that is down or a peer that does not respond.
    func expireChildSAs(now: Double) {
        storeStagedInstalls()
        for (spi, childSA) in childSAs {
            let counters = ledger.total(inboundSPI: spi)
            let kilobytes = (counters.bytesIn &+ counters.bytesOut) / 1024
            var reason: String?
            if childSA.lifetimeSeconds > 0,
                now >= childSA.installedAt + Double(childSA.lifetimeSeconds)
            {
                reason = "lifetime of \(childSA.lifetimeSeconds) s expired"
            } else if childSA.lifetimeKilobytes > 0, kilobytes >= childSA.lifetimeKilobytes,
                let softAt = softExpiredAt[spi], now >= softAt + SAManager.rekeyGrace
            {
                reason = "lifetime of \(childSA.lifetimeKilobytes) kB used up"
            }
            guard let reason else {
                let soft = softLifetime(of: childSA)
                if softExpiredAt[spi] == nil,
                    now >= soft.seconds
                        || (childSA.lifetimeKilobytes > 0 && kilobytes >= soft.kilobytes)
                        || sequenceSpaceLow.contains(spi)
                {
                    softExpiredAt[spi] = now
                    logger.info("CHILD", "\(hex(spi)) reached its soft lifetime, rekey requested")
                    bus.publish(
                        MessageType.childExpiring, ChildSAExpiring(inboundSPI: spi, hard: false))
                }
                continue
            }
            do {
                bus.publish(MessageType.childExpiring, ChildSAExpiring(inboundSPI: spi, hard: true))
                _ = try delete(inboundSPI: spi, reason: reason)
            } catch {
                logger.error("CHILD", "\(hex(spi)) expiry failed: \(error)")
            }
        }
    }

    /// Returns the soft lifetime of an SA: a random 85-95% of its hard lifetime
    /// in seconds, so that both peers do not rekey at once, and 90% of its
    /// kilobytes. The fraction is drawn once per SA and kept until the SA is deleted.
    func softLifetime(of childSA: ChildSA) -> (seconds: Double, kilobytes: UInt64) {
        let spi = childSA.inboundSPI
        let fraction =
            softFractions[spi]
            ?? {
                let drawn = Double.random(in: 0.85...0.95, using: &generator)
                softFractions[spi] = drawn
                return drawn
            }()
        let seconds =
            childSA.lifetimeSeconds > 0
            ? childSA.installedAt + Double(childSA.lifetimeSeconds) * fraction : .infinity
        return (seconds, childSA.lifetimeKilobytes / 10 * 9)
    }

    private func releaseStaleReservations() {
        do {
            let count = try store.releaseStaleReservations(
                olderThan: wallClockSeconds() - SAManager.reservationTimeout)
            if count > 0 {
                logger.info("CHILD", "released \(count) SPI reservations without an installed SA")
            }
        } catch {
            logger.error("CHILD", "releasing stale SPI reservations failed: \(error)")
        }
    }
}

/// Formats an SPI as IOS prints it: 0x plus 8 uppercase hex digits.
func hex(_ spi: UInt32) -> String {
    let digits = String(spi, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
