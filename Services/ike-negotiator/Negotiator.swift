// The ike-negotiator service around the IKE engine: UDP sockets in, datagrams
// out, Child SAs to sa-manager, bus requests and events, timers and state
// persistence.

import TaglineBus
import TaglineConfig
import TaglineCore
import TaglineIKE

final class Negotiator: IKEEngineDelegate {
    let logger: Logger
    let loop: EventLoop
    let bus: ServiceBus
    let link: SAManagerLink
    let store: IKEStateStore?
    private(set) var engine: IKEEngine!
    /// Sockets by local address and port.
    private var sockets: [IKEEndpoint: IKESocket] = [:]
    private var timerID: Int?
    /// Set while writing IKE SA changes to the state file fails.
    private var savingFails = false
    /// Packet counters of the previous dataplane report, by inbound SPI.
    private var lastTraffic: [UInt32: SACounters] = [:]
    /// `dataplaneStartedAt` of the previous report.
    private var trafficEpoch: Double?
    private var flushScheduled = false
    /// When `rearmTimer` last scanned the SAs for the next deadline.
    private var deadlineScannedAt = 0.0
    private var scanScheduled = false
    static let deadlineScanInterval = 0.02
    /// Holds the responses that create a Child SA until sa-manager confirms it.
    private var barrier: InstallBarrier!
    /// When this negotiator started, for `ike.stats`.
    let startedAt = wallClockSeconds()
    /// Datagrams read from one socket before the loop gets its turn again, so
    /// that a flood on one socket delays neither timers nor bus requests.
    static let datagramsPerTurn = 64

    init(
        config: GatewayConfig, logger: Logger, loop: EventLoop, bus: ServiceBus,
        store: IKEStateStore?
    ) throws {
        self.logger = logger
        self.loop = loop
        self.bus = bus
        self.store = store
        let pending = (try? store?.loadOperations()) ?? []
        link = SAManagerLink(bus: bus, loop: loop, logger: logger, pendingOperations: pending)
        // Queue changes are written at the end of the loop turn, with the SA changes.
        link.onEnqueue = { [weak self] queued in
            self?.store?.appendOperation(queued)
            self?.scheduleFlush()
        }
        link.onDone = { [weak self] id in
            self?.store?.removeOperation(id: id)
            self?.scheduleFlush()
            self?.barrier.operationDone(id: id)
        }
        engine = IKEEngine(
            config: config, clock: wallClockSeconds, random: IKEEngine.systemRandom,
            delegate: self)
        barrier = InstallBarrier { [weak self] datagram in self?.transmit(datagram) }
        if let (saved, purged) = try store?.loadStates() {
            if purged > 0 {
                logger.notice(
                    "IKE", "deleted \(purged) saved IKE SAs that were not established or unreadable"
                )
            }
            if !saved.isEmpty {
                engine.restore(saved)
                logger.notice(
                    "IKE", "restored \(engine.ikeSAStatuses().count) IKE SAs from the state file")
            }
        }
        registerHandlers()
    }

    // MARK: Sockets

    /// Binds UDP 500 and 4500 on every address of the outside interfaces.
    /// Returns the number of sockets bound.
    func bindSockets(config: GatewayConfig) -> Int {
        var addresses: [IPAddress] = []
        for interface in config.outsideInterfaces {
            for ipv4 in [true, false] {
                if let address = config.localAddress(of: interface, ipv4: ipv4),
                    !addresses.contains(address)
                {
                    addresses.append(address)
                }
            }
        }
        for address in addresses {
            for port in [IKEEndpoint.ikePort, IKEEndpoint.natTraversalPort] {
                let endpoint = IKEEndpoint(address: address, port: port)
                do {
                    let socket = try IKESocket(local: endpoint)
                    sockets[endpoint] = socket
                    loop.addFileDescriptor(socket.fd) { [weak self] in self?.drain(socket) }
                    logger.info("IKE", "listening on UDP \(endpoint)")
                } catch {
                    logger.error("IKE", "cannot listen on UDP \(endpoint): \(error)")
                }
            }
        }
        return sockets.count
    }

    /// Feeds up to `datagramsPerTurn` datagrams of `socket` to the engine.
    /// The loop polls the socket again, so whatever is left gets read on its next turn.
    private func drain(_ socket: IKESocket) {
        defer { afterEngineWork() }
        for _ in 0..<Negotiator.datagramsPerTurn {
            let received: IKESocket.Received
            do {
                received = try socket.receive()
            } catch {
                logger.warning("IKE", "receive on \(socket.local) failed: \(error)")
                return
            }
            switch received {
            case .nothing:
                return
            case .missingMarker:
                engine.countHostDrop(
                    reason: "missing non-ESP marker",
                    detail: "datagram on \(socket.local) without the non-ESP marker")
            case .datagram(let datagram):
                logger.log(
                    .trace, "IKE", "\(datagram.remote): received \(datagram.bytes.count) bytes")
                barrier.handling { engine.receive(datagram) }
            }
        }
    }

    // MARK: Engine delegate

    func engine(_ engine: IKEEngine, send datagram: IKEDatagram) {
        barrier.send(datagram)
    }

    /// Sends a datagram on the socket of its local endpoint.
    private func transmit(_ datagram: IKEDatagram) {
        guard let socket = sockets[datagram.local] else {
            logger.error("IKE", "\(datagram.remote.address): no socket on \(datagram.local)")
            return
        }
        do {
            try socket.send(datagram.bytes, to: datagram.remote)
        } catch {
            logger.warning("IKE", "\(datagram.remote.address): send failed: \(error)")
        }
    }

    func engineAllocateInboundSPI(_ engine: IKEEngine) -> UInt32? {
        link.takeSPI()
    }

    func engine(_ engine: IKEEngine, install childSA: ChildSA) {
        barrier.noteInstall(id: link.enqueue(.install(childSA)))
    }

    func engine(_ engine: IKEEngine, deleteChildSA inboundSPI: UInt32) {
        link.enqueue(.delete(inboundSPI: inboundSPI))
    }

    func engine(_ engine: IKEEngine, debug line: String) {
        // Published only while `tagline debug crypto ikev2 internal` has the
        // category on: each IKE SA produces about ten lines, and encoding them
        // costs a share of the setup rate.
        bus.publishDebug(MessageType.debugIKEv2, category: "crypto ikev2 internal", line)
        logger.debug("IKE", line)
    }

    func engine(_ engine: IKEEngine, log level: LogLevel, _ message: String) {
        logger.log(level, "IKE", message)
    }

    func engine(_ engine: IKEEngine, ikeSAChanged status: IKESAStatus, up: Bool) {
        bus.publish(MessageType.ikeEvent, IKESAEvent(event: up ? "up" : "down", ikeSA: status))
    }

    // MARK: Bus

    private func registerHandlers() {
        bus.handle(MessageType.ikeList) { [unowned self] (_: EmptyRequest, _) in
            IKESAListReply(ikeSAs: engine.ikeSAStatuses())
        }
        bus.handle(MessageType.ikeClear) { [unowned self] (request: ClearRequest, _) in
            let cleared = engine.clear(tunnelID: request.tunnelID)
            afterEngineWork()
            if let tunnelID = request.tunnelID, cleared == 0 {
                throw ErrorReply(message: "no IKE SA with tunnel id \(tunnelID)")
            }
            return EmptyReply()
        }
        bus.handle(MessageType.childClear) { [unowned self] (request: ChildSAClearRequest, _) in
            let cleared = engine.clearChildSAs(peer: request.peer)
            afterEngineWork()
            return ChildSAClearReply(cleared: cleared)
        }
        bus.subscribe(to: .dataplane, type: MessageType.counterReport) {
            [unowned self] (report: CounterReport, _) in
            noteTraffic(report)
        }
        bus.subscribe(to: .saManager, type: MessageType.childExpiring) {
            [unowned self] (event: ChildSAExpiring, _) in
            engine.childSAExpiring(inboundSPI: event.inboundSPI, hard: event.hard)
            afterEngineWork()
        }
        bus.handle(MessageType.ikeInitiate) { [unowned self] (request: IKEInitiateRequest, _) in
            defer { afterEngineWork() }
            do {
                let (target, tunnelIDs) = try engine.initiateAdditional(
                    targetKey: request.target, count: request.count)
                logger.notice(
                    "IKE", "initiating \(tunnelIDs.count) IKE SAs for \(target) on request")
                return IKEInitiateReply(target: target, tunnelIDs: tunnelIDs)
            } catch let error as IKEInitiateError {
                throw ErrorReply(message: error.description)
            }
        }
        bus.handle(MessageType.ikeStats) { [unowned self] (_: EmptyRequest, _) in
            IKEStatsReply(
                establishedSAs: engine.establishedSACount, halfOpenSAs: engine.halfOpenSACount,
                drops: engine.dropCounters, startedAt: startedAt)
        }
    }

    /// Passes the Child SAs whose packet counters moved since the previous
    /// report to the engine, for dead peer detection.
    private func noteTraffic(_ report: CounterReport) {
        if report.dataplaneStartedAt != trafficEpoch {
            // A restarted dataplane counts from zero again.
            trafficEpoch = report.dataplaneStartedAt
            lastTraffic = [:]
        }
        var received: Set<UInt32> = []
        var sent: Set<UInt32> = []
        var seen: [UInt32: SACounters] = [:]
        for (key, counters) in report.counters {
            guard let spi = UInt32(key) else { continue }
            let previous = lastTraffic[spi]
            if counters.decaps > previous?.decaps ?? 0 { received.insert(spi) }
            if counters.encaps > previous?.encaps ?? 0 { sent.insert(spi) }
            seen[spi] = counters
        }
        // Each report contains the totals of every installed SA, so SAs missing from it are gone.
        lastTraffic = seen
        engine.noteChildTraffic(received: received, sent: sent)
        afterEngineWork()
    }

    // MARK: Timers and persistence

    /// Initiates the configured peers and starts the engine's timer.
    func start() {
        link.start()
        engine.start()
        afterEngineWork()
    }

    /// Persists the established SAs that changed and rearms the one-shot
    /// timer for the engine's next deadline.
    func afterEngineWork() {
        let changes = engine.takeStateChanges()
        do {
            try store?.apply(changes)
            if savingFails {
                savingFails = false
                logger.notice("IKE", "saving IKE SA state works again")
            }
        } catch {
            // Retried after the next datagram or timer; logged once per failing streak.
            engine.returnStateChanges(changes)
            if !savingFails {
                savingFails = true
                logger.error("IKE", "saving IKE SA state failed, will retry: \(error)")
            }
        }
        rearmTimer()
    }

    /// Rearms the one-shot timer for the engine's next deadline. Finding the
    /// deadline scans every IKE SA, which costs a share of the setup rate
    /// when hundreds of SAs are negotiated at once. So within
    /// `deadlineScanInterval` of the last scan, the next scan is only
    /// scheduled for the end of the interval, and a timer fires at most that
    /// much late. Retransmissions wait 1 s and more.
    private func rearmTimer() {
        let now = wallClockSeconds()
        let nextScan = deadlineScannedAt + Negotiator.deadlineScanInterval
        if now < nextScan {
            guard !scanScheduled else { return }
            scanScheduled = true
            loop.addOneShot(after: nextScan - now) { [weak self] in
                self?.scanScheduled = false
                self?.rearmTimer()
            }
            return
        }
        deadlineScannedAt = now
        if let timerID { loop.cancelTimer(timerID) }
        timerID = nil
        guard let deadline = engine.nextTimerDeadline() else { return }
        let delay = max(0.01, deadline - wallClockSeconds())
        timerID = loop.addOneShot(after: delay) { [weak self] in
            guard let self else { return }
            self.timerID = nil
            self.engine.handleTimers()
            self.afterEngineWork()
        }
    }

    /// Writes the recorded sa-manager queue changes on the next loop turn,
    /// for changes made outside the engine's work (replies from sa-manager).
    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.addOneShot(after: 0) { [weak self] in
            guard let self else { return }
            self.flushScheduled = false
            do {
                try self.store?.flush()
            } catch {
                self.logger.error("CHILD", "saving pending sa-manager operations failed: \(error)")
            }
        }
    }

    /// Replaces the configuration; existing SAs keep what they negotiated.
    func reload(_ config: GatewayConfig) {
        engine.updateConfig(config)
        engine.start()
        afterEngineWork()
    }
}
