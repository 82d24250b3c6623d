// The negotiator's link to sa-manager. A pool of inbound SPIs is reserved in
// advance, so the engine's synchronous request rarely waits. Child SA
// installs and deletes go through an ordered queue that is retried until
// sa-manager confirms each one.

import TaglineBus
import TaglineCore

/// One change to send to sa-manager.
enum SAManagerOperation: Codable, Equatable {
    case install(ChildSA)
    case delete(inboundSPI: UInt32)

    var summary: String {
        switch self {
        case .install(let child): return "install 0x\(String(child.inboundSPI, radix: 16))"
        case .delete(let spi): return "delete 0x\(String(spi, radix: 16))"
        }
    }
}

final class SAManagerLink {
    /// SPIs kept in reserve; the pool is refilled when it drops below this.
    static let poolTarget = 4
    /// Wait before an operation that sa-manager did not confirm is sent again.
    static let retryDelay = 1.0
    static let requestTimeout = 2.0

    let bus: ServiceBus
    let loop: EventLoop
    let logger: Logger
    private var pool: [UInt32] = []
    private var refillsInFlight = 0
    /// Operations not yet confirmed, oldest first; sent one at a time so that
    /// a delete never overtakes the install it undoes.
    private(set) var queue: [SAManagerOperation] = []
    private var sending = false
    /// Called whenever `queue` changes, so that the caller can persist it.
    var onQueueChange: (([SAManagerOperation]) -> Void)?

    init(bus: ServiceBus, loop: EventLoop, logger: Logger, pendingOperations: [SAManagerOperation])
    {
        self.bus = bus
        self.loop = loop
        self.logger = logger
        self.queue = pendingOperations
    }

    /// Starts filling the SPI pool and sends any operations left from a previous run.
    func start() {
        refillPool()
        sendNext()
    }

    // MARK: SPIs

    /// Takes an SPI from the pool. When the pool is empty, it requests one from
    /// sa-manager and waits for the reply, blocking the loop for at most one request timeout.
    func takeSPI() -> UInt32? {
        defer { refillPool() }
        if !pool.isEmpty { return pool.removeFirst() }
        do {
            let client = try BusClient(
                service: .saManager, runDirectory: bus.paths.runDirectory,
                sender: ServiceName.ikeNegotiator.rawValue)
            let reply = try client.request(
                MessageType.spiAllocate, SPIAllocateRequest(), as: SPIAllocateReply.self,
                timeout: SAManagerLink.requestTimeout)
            return reply.spi
        } catch {
            logger.warning("CHILD", "sa-manager: SPI allocation failed: \(error)")
            return nil
        }
    }

    private func refillPool() {
        while pool.count + refillsInFlight < SAManagerLink.poolTarget {
            refillsInFlight += 1
            bus.client(.saManager).send(
                MessageType.spiAllocate, SPIAllocateRequest(), as: SPIAllocateReply.self,
                timeout: SAManagerLink.requestTimeout, loop: loop
            ) { [weak self] result in
                guard let self else { return }
                self.refillsInFlight -= 1
                switch result {
                case .success(let reply):
                    self.pool.append(reply.spi)
                case .failure(let error):
                    self.logger.debug("CHILD", "sa-manager: SPI refill failed: \(error)")
                    self.loop.addOneShot(after: SAManagerLink.retryDelay) { [weak self] in
                        self?.refillPool()
                    }
                }
            }
            if refillsInFlight > SAManagerLink.poolTarget { return }
        }
    }

    // MARK: Installs and deletes

    func enqueue(_ operation: SAManagerOperation) {
        queue.append(operation)
        onQueueChange?(queue)
        sendNext()
    }

    private func sendNext() {
        guard !sending, let operation = queue.first else { return }
        sending = true
        let completion: (Result<EmptyReply, BusError>) -> Void = { [weak self] result in
            self?.finish(operation, result)
        }
        switch operation {
        case .install(let child):
            bus.client(.saManager).send(
                MessageType.childInstall, ChildSAInstallRequest(childSA: child),
                as: EmptyReply.self, timeout: SAManagerLink.requestTimeout, loop: loop,
                completion: completion)
        case .delete(let spi):
            bus.client(.saManager).send(
                MessageType.childDelete, ChildSADeleteRequest(inboundSPI: spi),
                as: EmptyReply.self, timeout: SAManagerLink.requestTimeout, loop: loop,
                completion: completion)
        }
    }

    private func finish(_ operation: SAManagerOperation, _ result: Result<EmptyReply, BusError>) {
        sending = false
        switch result {
        case .success:
            logger.debug("CHILD", "sa-manager: \(operation.summary) confirmed")
            queue.removeFirst()
            onQueueChange?(queue)
            sendNext()
        case .failure(.remote(let message)):
            // sa-manager replied with an error, so retrying cannot help.
            logger.error("CHILD", "sa-manager rejected \(operation.summary): \(message)")
            queue.removeFirst()
            onQueueChange?(queue)
            sendNext()
        case .failure(let error):
            logger.warning(
                "CHILD",
                "sa-manager: \(operation.summary) failed (\(error)), retrying in "
                    + "\(SAManagerLink.retryDelay) s")
            loop.addOneShot(after: SAManagerLink.retryDelay) { [weak self] in self?.sendNext() }
        }
    }
}
