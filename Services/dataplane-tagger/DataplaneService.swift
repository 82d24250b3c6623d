// The control thread of dataplane-tagger: it keeps the workers' tables in
// step with sa-manager (Child SAs, sequence leases) and cts-binding-store
// (SGT bindings), refreshes routes and neighbours from the kernel, publishes
// counters and debug lines, and replies to status requests. Everything here
// runs on the one event loop; only the workers run on other threads.

import TaglineBus
import TaglineCore
import TaglineDataplane

final class DataplaneService {
    /// Category of `debug crypto ipsec metadata sgt`.
    static let debugCategory = "crypto ipsec metadata sgt"
    /// Sequence numbers asked for at once; a new lease is asked for when fewer than half remain.
    static let leaseSize: UInt64 = 1 << 18
    static let counterInterval = 0.2
    static let controlInterval = 0.05
    static let kernelRefreshInterval = 1.0

    private let controller: DataplaneController
    private let bus: ServiceBus
    private let loop: EventLoop
    private let logger: Logger
    private let startedAt = wallClockSeconds()
    private var childSAs: [String: ChildSA] = [:]
    private var bindings: [String: SGTBinding] = [:]
    private var leasesInFlight: Set<UInt32> = []
    private var lastReport:
        (counters: [String: SACounters], drops: [String: UInt64], paths: [String: SAPathMTU])?
    private var limiter = DebugRateLimiter()
    private var childClient: CloneClient<ChildSA>?
    private var bindingClient: CloneClient<SGTBinding>?
    /// The one-shot timer that publishes staged binding changes, while one is scheduled.
    private var bindingTimer: Int?

    /// The inside interface's transit drop filter, kept in step with the kernel's local routes.
    /// Nil when the caller gives none.
    private let transitFilter: TransitDropFilter?
    /// The last error of `transitFilter.update`, logged once until it changes.
    private var transitFilterError: String?
    /// The inside or outside interfaces found missing, each logged once until it is back.
    private var missingInterfaces: Set<String> = []
    /// The last error of reopening the rings, logged once until it changes.
    private var reopenError: String?
    /// An outside interface created again that still needs the ESP filter, and the last
    /// error of adding it, logged once until it changes.
    private var espFilterPending: String?
    private var espFilterError: String?

    init(
        controller: DataplaneController, bus: ServiceBus, loop: EventLoop, logger: Logger,
        transitFilter: TransitDropFilter? = nil
    ) {
        self.controller = controller
        self.bus = bus
        self.loop = loop
        self.logger = logger
        self.transitFilter = transitFilter
    }

    /// Registers handlers, clone clients and timers.
    func start() {
        bus.handle(MessageType.dataplaneStatus) { [unowned self] (_: EmptyRequest, _) in
            status()
        }
        bus.onDebugSet = { [unowned self] category, enabled in
            guard category == DataplaneService.debugCategory else { return }
            controller.context.debugEnabled = enabled
            logger.info("TAG", "debug \(category) \(enabled ? "on" : "off")")
        }

        childClient = bus.cloneClient(
            from: .saManager, updateType: MessageType.childUpdate,
            snapshotType: MessageType.childSnapshot,
            onSnapshot: { [unowned self] (items: [String: ChildSA]) in
                childSAs = items
                installChildSAs(reason: "snapshot of \(items.count) Child SAs")
            },
            onUpdate: { [unowned self] key, item in
                childSAs[key] = item
                installChildSAs(reason: item == nil ? "SA \(key) removed" : "SA \(key) updated")
            })
        bindingClient = bus.cloneClient(
            from: .bindingStore, updateType: MessageType.bindingUpdate,
            snapshotType: MessageType.bindingSnapshot,
            // A snapshot of a million bindings takes seconds to encode and decode; a
            // shorter timeout would ask again before the reply arrives, forever.
            snapshotTimeout: 30,
            fetchSnapshot: { [unowned self] timeout, completion in
                fetchPackedBindings(timeout: timeout, completion: completion)
            },
            onSnapshot: { [unowned self] (items: [String: SGTBinding]) in
                bindings = items
                controller.bindings.stagedSequence = bindingClient?.sequence ?? 0
                installBindings()
            },
            onUpdate: { [unowned self] key, item in
                bindings[key] = item
                controller.bindings.stagedSequence = bindingClient?.sequence ?? 0
                stageBinding(key: key, item)
            })

        loop.addTimer(every: DataplaneService.controlInterval) { [unowned self] in controlTick() }
        loop.addTimer(every: DataplaneService.counterInterval) { [unowned self] in publishCounters()
        }
        loop.addTimer(every: DataplaneService.kernelRefreshInterval) { [unowned self] in
            do {
                for change in try controller.refreshForwarding() {
                    logger.notice(
                        "ESP",
                        "interface \(change.interface) MTU changed from \(change.previousMTU) to "
                            + "\(change.mtu); the dataplane uses it from now on")
                }
            } catch {
                logger.warning("ESP", "reading routes and neighbours failed: \(error)")
                return
            }
            followRecreatedInterfaces()
            updateTransitFilter()
        }
    }

    /// Reopens the rings on an inside or outside interface that was deleted and created
    /// again, and puts the ESP filter back on a new outside interface. A missing interface
    /// and a failed reopening are each logged once.
    private func followRecreatedInterfaces() {
        let events: [InterfaceRecreation]
        do {
            events = try controller.reopenRecreatedInterfaces()
            reopenError = nil
        } catch {
            logRetriedFailure(
                error, last: &reopenError, .error,
                "reopening the packet rings failed, tried again each second")
            return
        }
        for event in events {
            switch event {
            case .missing(let name):
                guard missingInterfaces.insert(name).inserted else { continue }
                logger.error(
                    "ESP",
                    "interface \(name) is gone; nothing is carried on it until an interface "
                        + "of that name exists again")
            case .reopened(let name, let previousIndex, let index):
                missingInterfaces.remove(name)
                logger.notice(
                    "ESP",
                    "interface \(name) was created again (index \(previousIndex), now \(index)); "
                        + "the packet rings were reopened on it")
                if name == controller.outside.name { espFilterPending = name }
                // An interface deleted and created again between two reads has the same local
                // prefixes, so the filter's own update would not install it again.
                if name == transitFilter?.interface { transitFilter?.interfaceRecreated() }
            }
        }
        if let interface = espFilterPending { reinstallESPFilter(interface: interface) }
    }

    /// Puts the ESP drop filter on an outside interface created again. A failure is logged
    /// once and tried again each second.
    private func reinstallESPFilter(interface: String) {
        do {
            for command in try KernelPacketGuard.installESPDropFilter(interface: interface) {
                logger.info("ESP", "ran: \(command)")
            }
            espFilterPending = nil
            espFilterError = nil
        } catch {
            logRetriedFailure(
                error, last: &espFilterError, .error,
                "adding the ESP filter to \(interface) failed, tried again each second. Until "
                    + "then its kernel answers ESP with ICMP errors")
        }
    }

    /// Gives the transit filter the local destinations of the last kernel read.
    private func updateTransitFilter() {
        guard let transitFilter else { return }
        do {
            for line in try transitFilter.update(localPrefixes: controller.localPrefixes) {
                let ran = line.hasPrefix("tc ") ? "ran: " : ""
                logger.info(
                    "ESP", "transit filter on \(transitFilter.interface) updated, \(ran)\(line)")
            }
            transitFilterError = nil
        } catch {
            logRetriedFailure(
                error, last: &transitFilterError, .warning,
                "updating the transit filter on \(transitFilter.interface) failed, "
                    + "tried again each second")
        }
    }

    /// Logs `message` and `error` for a failure retried each second: once, and again only
    /// when the error's text differs from `last`, which it then records.
    private func logRetriedFailure(
        _ error: Error, last: inout String?, _ level: LogLevel, _ message: String
    ) {
        let text = "\(error)"
        guard text != last else { return }
        last = text
        logger.log(level, "ESP", "\(message): \(text)")
    }

    private func installChildSAs(reason: String) {
        let failures = controller.installSAs(Array(childSAs.values))
        for failure in failures {
            logger.error("CHILD", "SA \(failure.inboundSPI) not installed: \(failure.error)")
        }
        logger.info("CHILD", "\(reason): \(controller.installedSAs.count) SAs installed")
        leasesInFlight = leasesInFlight.filter { controller.saState(inboundSPI: $0) != nil }
        requestLeases()
    }

    /// Requests the packed binding snapshot and hands it to the clone client as a
    /// SnapshotReply keyed by prefix text, the keys of the store's clone updates.
    private func fetchPackedBindings(
        timeout: Double,
        completion: @escaping (Result<SnapshotReply<SGTBinding>, BusError>) -> Void
    ) {
        bus.client(.bindingStore).send(
            MessageType.bindingSnapshotPacked, EmptyRequest(), as: PackedBindingSnapshot.self,
            timeout: timeout, loop: loop
        ) { result in
            completion(
                result.flatMap { packed in
                    do {
                        let bindings = try PackedBindings.unpack(
                            packed.records, count: packed.count)
                        var items = [String: SGTBinding](minimumCapacity: bindings.count)
                        for binding in bindings { items[binding.prefix.description] = binding }
                        return .success(
                            SnapshotReply(
                                epoch: packed.epoch, sequence: packed.sequence, items: items))
                    } catch {
                        return .failure(.decode("packed binding snapshot: \(error)"))
                    }
                })
        }
    }

    private func installBindings() {
        if let bindingTimer { loop.cancelTimer(bindingTimer) }
        bindingTimer = nil
        controller.installBindings(Array(bindings.values))
        logger.debug("TAG", "\(bindings.count) SGT bindings installed")
    }

    /// Stages one binding change. The changes that arrive within the publisher's interval
    /// reach the workers together in one table.
    private func stageBinding(key: String, _ item: SGTBinding?) {
        guard let prefix = item?.prefix ?? IPPrefix(key) else {
            logger.warning("TAG", "binding update ignored: key \(key) is not an IP prefix")
            return
        }
        controller.bindings.stage(prefix, item)
        guard bindingTimer == nil else { return }
        bindingTimer = loop.addOneShot(after: controller.bindings.secondsUntilDue()) {
            [unowned self] in
            bindingTimer = nil
            controller.bindings.flush()
        }
    }

    /// Asks sa-manager for a lease for every SA that is running low.
    private func requestLeases() {
        for spi in controller.spisNeedingLease(threshold: DataplaneService.leaseSize / 2)
        where !leasesInFlight.contains(spi) {
            leasesInFlight.insert(spi)
            let request = SequenceLeaseRequest(inboundSPI: spi, count: DataplaneService.leaseSize)
            bus.client(.saManager).send(
                MessageType.sequenceLease, request, as: SequenceLeaseReply.self, timeout: 2,
                loop: loop
            ) { [unowned self] result in
                leasesInFlight.remove(spi)
                switch result {
                case .success(let reply):
                    let lease = SequenceLease(first: reply.first, count: reply.count)
                    if controller.grantLease(inboundSPI: spi, lease) {
                        logger.debug(
                            "CHILD", "SA \(spi) sequence lease \(reply.first)+\(reply.count)")
                    }
                case .failure(let error):
                    logger.warning("CHILD", "SA \(spi) sequence lease failed: \(error); retrying")
                }
            }
        }
    }

    private func controlTick() {
        controller.drainLearnedNeighbours()
        controller.reclaim()
        requestLeases()
        for line in controller.drainDebugLines(limiter: &limiter) {
            bus.publishDebug(MessageType.debugSGT, category: DataplaneService.debugCategory, line)
            logger.debug("TAG", line)
        }
    }

    /// Publishes the totals when they changed since the last report.
    private func publishCounters() {
        let counters = controller.counterTotals()
        let drops = controller.context.dropTotals()
        let paths = controller.pathMTUs()
        if let last = lastReport, last.counters == counters, last.drops == drops,
            last.paths == paths
        {
            return
        }
        lastReport = (counters, drops, paths)
        bus.publish(
            MessageType.counterReport,
            CounterReport(
                counters: counters, drops: drops, dataplaneStartedAt: startedAt, pathMTUs: paths))
    }

    private func status() -> DataplaneStatusReply {
        var reply = DataplaneStatusReply(
            insideInterface: controller.inside.name, outsideInterface: controller.outside.name,
            installedSAs: controller.installedSAs.count,
            bindings: controller.installedBindingCount, drops: controller.context.dropTotals(),
            workers: controller.workerStatuses())
        reply.bindingTables = controller.bindings.publications
        reply.bindingChanges = controller.bindings.publishedChanges
        reply.bindingSequence = controller.bindings.publishedSequence
        reply.bindingPublishedAt = controller.bindings.publishedAt
        return reply
    }
}
