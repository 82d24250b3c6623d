// The control side of the dataplane: it owns the workers, builds the tables
// from SAs, bindings and the kernel's routes and neighbours, publishes them,
// frees retired tables, and collects counters and debug events. It runs on
// one thread (the service's event loop, or a test); only the workers run
// elsewhere.

import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

public final class DataplaneController {
    public let context: DataplaneContext
    /// The interfaces, with the MTU of the last kernel read.
    public private(set) var inside: InterfaceInfo
    public private(set) var outside: InterfaceInfo
    public private(set) var workers: [DataplaneWorker] = []
    private let netlink: RouteNetlink
    private var kernel = KernelSnapshot()
    /// Neighbours learned from ARP replies and advertisements, with the time they were seen.
    private var learned: [NeighbourKey: (mac: MACAddress, seen: UInt64)] = [:]
    private var states: [UInt32: SAState] = [:]
    /// The SGT bindings: replaced whole or changed one by one, published in batches.
    public let bindings: BindingPublisher
    private let replayWindowSize: Int
    /// The settings each worker is built with, kept so that `reopenRecreatedInterfaces` can
    /// build the workers again.
    private let fanoutGroupBase: UInt16
    private let rxConfiguration: RXRingConfiguration
    private let workerOptions: [WorkerOptions]
    /// Each worker's totals, kept when its rings are reopened.
    private let workerStatistics: [WorkerStatistics]
    /// Whether the workers should run: set by `startWorkers`, cleared by `stopWorkers`.
    private var workersRunning = false
    /// How long a learned neighbour stays without the kernel confirming it.
    static let learnedLifetime: UInt64 = 60_000_000_000

    /// Reads both interfaces and the kernel tables and opens the workers' rings; worker i runs
    /// with `workerOptions[i]`, or the defaults when the list is shorter. Run it in
    /// the network namespace of the interfaces: sockets stay in the namespace they were
    /// created in.
    public init(
        insideName: String, outsideName: String, workerCount: Int = 1,
        cmdNextHeader: UInt8 = CMDHeader.defaultNextHeader,
        replayWindowSize: Int = ReplayWindow.defaultSize,
        rxConfiguration: RXRingConfiguration = RXRingConfiguration(),
        workerOptions: [WorkerOptions] = []
    ) throws {
        try CPUList.checkAllowed(workerOptions.compactMap(\.cpu))
        inside = try InterfaceInfo.read(insideName)
        outside = try InterfaceInfo.read(outsideName)
        netlink = try RouteNetlink()
        self.replayWindowSize = replayWindowSize
        kernel = try netlink.snapshot()
        inside = inside.updatingMTU(from: kernel).0
        outside = outside.updatingMTU(from: kernel).0
        context = DataplaneContext(
            workerCount: workerCount,
            forwarding: kernel.forwardingTable(inside: inside, outside: outside),
            cmdNextHeader: cmdNextHeader)
        bindings = BindingPublisher(slot: context.bindingTable)
        // Fanout group ids are per network namespace; the process id keeps two dataplanes
        // in one namespace (a test and a service) apart.
        fanoutGroupBase = UInt16(truncatingIfNeeded: getpid() &* 2)
        self.rxConfiguration = rxConfiguration
        self.workerOptions = workerOptions
        workerStatistics = (0..<workerCount).map { _ in WorkerStatistics() }
        workers = try makeWorkers(inside: inside, outside: outside)
    }

    /// Opens the rings of every worker on `inside` and `outside`.
    private func makeWorkers(inside: InterfaceInfo, outside: InterfaceInfo) throws
        -> [DataplaneWorker]
    {
        try (0..<context.workerCount).map { index in
            try DataplaneWorker(
                index: index, context: context, inside: inside, outside: outside,
                fanoutGroupBase: fanoutGroupBase, rxConfiguration: rxConfiguration,
                options: index < workerOptions.count ? workerOptions[index] : WorkerOptions(),
                statistics: workerStatistics[index])
        }
    }

    public func startWorkers() throws {
        for worker in workers { try worker.start() }
        workersRunning = true
    }

    public func stopWorkers() {
        for worker in workers { worker.stop() }
        workersRunning = false
    }

    // MARK: Interfaces deleted and created again

    /// Checks, after `refreshForwarding`, that the inside and outside interfaces still have
    /// the indexes the rings are bound to. When one was deleted and an interface of the same
    /// name exists again, the workers are stopped, their rings reopened on the current
    /// interfaces, and the workers started again. SAs, counters and tables stay. Returns
    /// each reopened interface, or each missing one (the rings then stay on the old index,
    /// which carries nothing, and the next call checks again).
    @discardableResult
    public func reopenRecreatedInterfaces() throws -> [InterfaceRecreation] {
        var missing: [InterfaceRecreation] = []
        var reopened: [InterfaceRecreation] = []
        func current(_ interface: InterfaceInfo) -> InterfaceInfo {
            // A link renamed away keeps its index, so the name is checked too.
            if kernel.linkMTUs[interface.index] != nil,
                DataplaneController.linkName(index: interface.index) == interface.name
            {
                return interface
            }
            guard let found = try? InterfaceInfo.read(interface.name) else {
                missing.append(.missing(name: interface.name))
                return interface
            }
            guard found.index != interface.index else { return interface }
            reopened.append(
                .reopened(name: found.name, previousIndex: interface.index, index: found.index))
            return found
        }
        let newInside = current(inside)
        let newOutside = current(outside)
        // The rings need both interfaces, so nothing is reopened while one is missing.
        guard missing.isEmpty else { return missing }
        guard !reopened.isEmpty else { return [] }

        for worker in workers { worker.stop() }
        // The old rings close first: PACKET_FANOUT fails with EINVAL while the group still
        // has sockets bound to the deleted device.
        workers = []
        // After a failure `inside` and `outside` keep the old indexes, so the next call
        // tries again, and no worker runs until then.
        workers = try makeWorkers(inside: newInside, outside: newOutside)
        inside = newInside.updatingMTU(from: kernel).0
        outside = newOutside.updatingMTU(from: kernel).0
        publishForwarding()
        if workersRunning { try startWorkers() }
        return reopened
    }

    /// Returns the name of the link with `index` in the calling thread's network namespace,
    /// or nil when no link has that index.
    static func linkName(index: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(UInt32(bitPattern: index), &buffer) != nil else { return nil }
        return String(cString: buffer)
    }

    // MARK: SAs and bindings

    /// Replaces the installed SAs with `childSAs` and publishes the new table. An SA whose
    /// configuration did not change keeps its state (counters, replay window, sequence
    /// numbers), and so does one that only moved to another IKE SA: an IKE SA rekey
    /// changes `ikeSAName`, which the packet path never reads. Returns the SAs that
    /// could not be installed, with the reason.
    @discardableResult
    public func installSAs(_ childSAs: [ChildSA]) -> [(inboundSPI: UInt32, error: Error)] {
        var next: [UInt32: SAState] = [:]
        var failures: [(UInt32, Error)] = []
        for sa in childSAs {
            if let existing = states[sa.inboundSPI],
                existing.childSA == sa.withIKESAName(of: existing)
            {
                next[sa.inboundSPI] = existing
                continue
            }
            do {
                next[sa.inboundSPI] = try SAState(
                    childSA: sa, workerCount: context.workerCount,
                    replayWindowSize: replayWindowSize)
            } catch {
                failures.append((sa.inboundSPI, error))
            }
        }
        states = next
        context.saTable.publish(SATable(states: Array(next.values)))
        return failures
    }

    public var installedSAs: [SAState] {
        states.values.sorted { $0.childSA.inboundSPI < $1.childSA.inboundSPI }
    }

    public func saState(inboundSPI: UInt32) -> SAState? { states[inboundSPI] }

    /// Replaces the SGT bindings and publishes the new table.
    public func installBindings(_ bindings: [SGTBinding]) {
        self.bindings.replaceAll(bindings)
    }

    public var installedBindingCount: Int { bindings.publishedCount }

    /// Inbound SPIs of the SAs whose outbound sequence numbers run below `threshold`.
    public func spisNeedingLease(threshold: UInt64) -> [UInt32] {
        installedSAs.filter { $0.sequence.remaining < threshold }.map(\.childSA.inboundSPI)
    }

    /// Adds a lease to the SA named by `inboundSPI`; false when no such SA is installed.
    @discardableResult
    public func grantLease(inboundSPI: UInt32, _ lease: SequenceLease) -> Bool {
        guard let state = states[inboundSPI] else { return false }
        state.sequence.grant(lease)
        return true
    }

    // MARK: Kernel tables

    /// Re-reads routes, neighbours, addresses and interface MTUs from the kernel and publishes
    /// them. Returns the inside and outside MTUs that changed since the last read, so the
    /// caller logs each change once.
    @discardableResult
    public func refreshForwarding() throws -> [InterfaceMTUChange] {
        kernel = try netlink.snapshot()
        let insideUpdate = inside.updatingMTU(from: kernel)
        let outsideUpdate = outside.updatingMTU(from: kernel)
        inside = insideUpdate.0
        outside = outsideUpdate.0
        expireLearned()
        publishForwarding()
        return [insideUpdate.1, outsideUpdate.1].compactMap { $0 }
    }

    /// The local destinations of every routing table at the last kernel read.
    public var localPrefixes: Set<IPPrefix> { kernel.localPrefixes }

    /// Moves neighbours the workers learned into the table; returns how many were new.
    @discardableResult
    public func drainLearnedNeighbours() -> Int {
        let now = monotonicNanoseconds()
        var changed = 0
        for queue in context.neighbourQueues {
            while let entry = queue.pop() {
                if learned[entry.key]?.mac != entry.mac { changed += 1 }
                learned[entry.key] = (entry.mac, now)
            }
        }
        if changed > 0 { publishForwarding() }
        return changed
    }

    private func expireLearned() {
        let now = monotonicNanoseconds()
        learned = learned.filter { now &- $0.value.seen < DataplaneController.learnedLifetime }
    }

    private func publishForwarding() {
        context.forwardingTable.publish(
            kernel.forwardingTable(
                inside: inside, outside: outside,
                learned: learned.mapValues(\.mac)))
    }

    /// Frees tables no worker can still read.
    public func reclaim() { context.epochs.reclaim() }

    // MARK: Counters and debug

    /// Totals since start per SA pair, keyed by inbound SPI in decimal.
    public func counterTotals() -> [String: SACounters] {
        var totals: [String: SACounters] = [:]
        for (spi, state) in states {
            var counters = state.counters.snapshot()
            counters.esnResynchronizations = state.resync.resynchronizations
            totals[String(spi)] = counters
        }
        return totals
    }

    /// Returns the path MTU, interface MTU and outside interface of every installed SA, keyed
    /// by inbound SPI in decimal.
    public func pathMTUs(now: UInt64 = monotonicNanoseconds()) -> [String: SAPathMTU] {
        let outside = context.forwardingTable.current.outside
        var report: [String: SAPathMTU] = [:]
        for (spi, state) in states {
            let learned = state.pathMTU.learned(now: now) ?? outside.mtu
            report[String(spi)] = SAPathMTU(
                pathMTU: min(learned, outside.mtu), ipMTU: outside.mtu, interface: outside.name)
        }
        return report
    }

    /// Formats the SGT events the workers queued, at most `limiter.maximumPerSecond` lines a
    /// second plus one line per second that reports how many were suppressed.
    public func drainDebugLines(limiter: inout DebugRateLimiter) -> [String] {
        var lines: [String] = []
        let lost = context.takeLostDebugEvents()
        if lost > 0 { limiter.addSuppressed(Int(lost)) }
        for queue in context.debugQueues {
            while let event = queue.pop() {
                let (admit, summary) = limiter.admit(now: monotonicNanoseconds())
                if let summary { lines.append(summary) }
                if admit { lines.append(event.line) }
            }
        }
        if let summary = limiter.flushIfWindowEnded(now: monotonicNanoseconds()) {
            lines.append(summary)
        }
        return lines
    }

    public func workerStatuses() -> [WorkerStatus] {
        workers.enumerated().map {
            var status = $0.element.statistics.status(
                worker: $0.offset, cpu: $0.element.options.cpu)
            let ring = $0.element.ringStatistics()
            status.ringDrops = ring.drops
            status.ringFreezes = ring.freezes
            return status
        }
    }
}

/// An inside or outside interface that `reopenRecreatedInterfaces` found changed.
public enum InterfaceRecreation: Sendable, Equatable {
    /// The interface was created again with a new index, and the rings now read it.
    case reopened(name: String, previousIndex: Int32, index: Int32)
    /// No interface has this name: it was deleted and not yet created again.
    case missing(name: String)
}

extension ChildSA {
    /// Returns this SA with the IKE SA name of `state`, so that the other fields can be compared.
    fileprivate func withIKESAName(of state: SAState) -> ChildSA {
        var copy = self
        copy.ikeSAName = state.childSA.ikeSAName
        return copy
    }
}
