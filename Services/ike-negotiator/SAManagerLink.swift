// The negotiator's link to sa-manager. A pool of inbound SPIs is reserved in
// advance, in batches, so the engine's synchronous request rarely waits. Child SA
// installs and deletes go through an ordered queue, up to `window` at a time,
// and are sent again until sa-manager confirms each one.

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

/// An operation in the queue, with the id of its row in the state file.
struct QueuedOperation: Equatable {
    var id: Int64
    var operation: SAManagerOperation
}

final class SAManagerLink {
    /// The pool is refilled when it contains fewer SPIs than this.
    static let poolLowWater = 16
    /// SPIs reserved with one request. A burst of new SAs, such as many peers
    /// initiating at once, then costs one request per batch, not one per SA.
    static let batchSize = 64
    /// SPIs older than this many seconds are dropped from the pool unused,
    /// well before sa-manager frees reservations without an SA (after 600 s).
    static let maximumPoolAge = 300.0
    /// Operations sent to sa-manager without waiting for their replies.
    /// sa-manager handles the requests of one connection in order, so a
    /// delete still reaches it after the install it undoes.
    static let window = 32
    /// Wait before an operation that sa-manager did not confirm is sent again.
    static let retryDelay = 1.0
    static let requestTimeout = 2.0

    let bus: ServiceBus
    let loop: EventLoop
    let logger: Logger
    /// Reserved SPIs with the time they were reserved, oldest first.
    private var pool: [(spi: UInt32, reservedAt: Double)] = []
    private var refillInFlight = false
    /// Operations not yet confirmed, oldest first.
    private(set) var queue: [QueuedOperation] = []
    /// Index of the oldest operation in `queue`. The ones before it are done
    /// and are dropped in batches, so taking one off the front costs O(1).
    private var head = 0
    private var nextID: Int64
    /// Operations from `head` on that were sent and are still in the queue.
    private var inFlight = 0
    /// Replies still expected in the current round.
    private var awaitingReply = 0
    /// Ids of operations in flight that have their reply but wait for an older one.
    private var replied: Set<Int64> = []
    /// Increased after each failure, so that replies from before it are ignored.
    private var sendRound = 0
    private var roundFailed = false
    private var waitingToRetry = false
    /// Called with each operation added to the queue, so that the caller can persist it.
    var onEnqueue: ((QueuedOperation) -> Void)?
    /// Called with the id of each operation that leaves the queue.
    var onDone: ((Int64) -> Void)?

    init(bus: ServiceBus, loop: EventLoop, logger: Logger, pendingOperations: [QueuedOperation]) {
        self.bus = bus
        self.loop = loop
        self.logger = logger
        self.queue = pendingOperations
        self.nextID = (pendingOperations.map(\.id).max() ?? 0) + 1
    }

    /// The number of operations waiting for sa-manager.
    var pendingCount: Int { queue.count - head }

    /// Starts filling the SPI pool and sends any operations left from a previous run.
    func start() {
        refillPool()
        sendNext()
    }

    // MARK: SPIs

    /// Takes an SPI from the pool. When the pool is empty, it requests a batch
    /// from sa-manager and waits for the reply, blocking the loop for at most
    /// one request timeout.
    func takeSPI() -> UInt32? {
        defer { refillPool() }
        let now = wallClockSeconds()
        while let first = pool.first {
            pool.removeFirst()
            if now - first.reservedAt < SAManagerLink.maximumPoolAge { return first.spi }
        }
        do {
            let client = try BusClient(
                service: .saManager, runDirectory: bus.paths.runDirectory,
                sender: ServiceName.ikeNegotiator.rawValue)
            let reply = try client.request(
                MessageType.spiAllocate, SPIAllocateRequest(count: SAManagerLink.batchSize),
                as: SPIAllocateReply.self, timeout: SAManagerLink.requestTimeout)
            addToPool(reply.additionalSPIs ?? [], reservedAt: now)
            return reply.spi
        } catch {
            logger.warning("CHILD", "sa-manager: SPI allocation failed: \(error)")
            return nil
        }
    }

    private func addToPool(_ spis: [UInt32], reservedAt time: Double) {
        pool += spis.map { (spi: $0, reservedAt: time) }
    }

    /// Requests a batch in the background once the pool runs low.
    private func refillPool() {
        guard pool.count < SAManagerLink.poolLowWater, !refillInFlight else { return }
        refillInFlight = true
        let requestedAt = wallClockSeconds()
        bus.client(.saManager).send(
            MessageType.spiAllocate, SPIAllocateRequest(count: SAManagerLink.batchSize),
            as: SPIAllocateReply.self, timeout: SAManagerLink.requestTimeout, loop: loop
        ) { [weak self] result in
            guard let self else { return }
            self.refillInFlight = false
            switch result {
            case .success(let reply):
                self.addToPool([reply.spi] + (reply.additionalSPIs ?? []), reservedAt: requestedAt)
                self.refillPool()
            case .failure(let error):
                self.logger.debug("CHILD", "sa-manager: SPI refill failed: \(error)")
                self.loop.addOneShot(after: SAManagerLink.retryDelay) { [weak self] in
                    self?.refillPool()
                }
            }
        }
    }

    // MARK: Installs and deletes

    /// Adds an operation at the end of the queue and returns its id.
    @discardableResult
    func enqueue(_ operation: SAManagerOperation) -> Int64 {
        let queued = QueuedOperation(id: nextID, operation: operation)
        nextID += 1
        queue.append(queued)
        onEnqueue?(queued)
        sendNext()
        return queued.id
    }

    /// Takes the oldest operation off the queue.
    private func removeFirst() {
        onDone?(queue[head].id)
        head += 1
        if head >= 64, head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    /// Sends queued operations until `window` are in flight.
    private func sendNext() {
        guard !waitingToRetry else { return }
        while inFlight < SAManagerLink.window, head + inFlight < queue.count {
            let queued = queue[head + inFlight]
            inFlight += 1
            awaitingReply += 1
            send(queued, round: sendRound)
        }
    }

    private func send(_ queued: QueuedOperation, round: Int) {
        let completion: (Result<EmptyReply, BusError>) -> Void = { [weak self] result in
            self?.finish(queued, round: round, result)
        }
        switch queued.operation {
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

    /// Records one reply. Operations leave the queue in order, once each one
    /// before them has a reply. A failure without a reply means sa-manager
    /// may have applied later operations without the failed one. So once the
    /// replies still in flight are in, every operation from the failed one on
    /// is sent again, in order. Installing twice replaces the SA with itself,
    /// and deleting twice gets an error reply, so sending again is safe.
    private func finish(
        _ queued: QueuedOperation, round: Int, _ result: Result<EmptyReply, BusError>
    ) {
        // A reply from before the last failure: the operation was sent again since.
        guard round == sendRound else { return }
        awaitingReply -= 1
        let summary = queued.operation.summary
        switch result {
        case .success:
            logger.debug("CHILD", "sa-manager: \(summary) confirmed")
            replied.insert(queued.id)
        case .failure(.remote(let message)):
            // sa-manager replied with an error, so retrying cannot help.
            logger.error("CHILD", "sa-manager rejected \(summary): \(message)")
            replied.insert(queued.id)
        case .failure(let error):
            if !roundFailed {
                logger.warning(
                    "CHILD",
                    "sa-manager: \(summary) failed (\(error)), sending it and the operations "
                        + "after it again in \(SAManagerLink.retryDelay) s")
            }
            roundFailed = true
        }
        while head < queue.count, inFlight > 0, replied.remove(queue[head].id) != nil {
            removeFirst()
            inFlight -= 1
        }
        guard roundFailed else { return sendNext() }
        guard awaitingReply == 0 else { return }
        sendRound += 1
        roundFailed = false
        inFlight = 0
        replied = []
        waitingToRetry = true
        loop.addOneShot(after: SAManagerLink.retryDelay) { [weak self] in
            self?.waitingToRetry = false
            self?.sendNext()
        }
    }
}
