// One worker thread: a busy-poll loop over the RX rings of both interfaces,
// as DPDK poll-mode drivers run, that backs off to poll() when the rings stay
// empty so an idle gateway does not keep a core busy.

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// Packet and time counters of one worker, readable from any thread.
public final class WorkerStatistics: @unchecked Sendable {
    private enum Field: Int, CaseIterable { case packets, bursts, busy, idle }
    private let slots: UnsafeMutablePointer<UInt64>

    init() {
        slots = .allocate(capacity: Field.allCases.count)
        slots.initialize(repeating: 0, count: Field.allCases.count)
    }

    deinit { slots.deallocate() }

    private func add(_ field: Field, _ value: UInt64) {
        _ = tagline_atomic_fetch_add_u64(slots + field.rawValue, value)
    }

    private func value(_ field: Field) -> UInt64 { tagline_atomic_load_u64(slots + field.rawValue) }

    func recordBurst(packets: Int, nanoseconds: UInt64) {
        add(.packets, UInt64(packets))
        add(.bursts, 1)
        add(.busy, nanoseconds)
    }

    func recordIdle(nanoseconds: UInt64) { add(.idle, nanoseconds) }

    /// Returns the counters as the bus reports them.
    public func status(worker: Int, cpu: Int? = nil) -> WorkerStatus {
        WorkerStatus(
            worker: worker, packets: value(.packets), bursts: value(.bursts),
            busyNanoseconds: value(.busy), idleNanoseconds: value(.idle), cpu: cpu)
    }
}

/// The rings and pipeline of one worker, and the thread that runs them.
public final class DataplaneWorker: @unchecked Sendable {
    /// Maximum sleep in poll(), so `stop` takes effect quickly.
    static let pollTimeoutMilliseconds: Int32 = 50
    /// Maximum sleep in poll() while frames wait for a next hop, so they leave soon after the
    /// control thread publishes its address.
    static let heldPollTimeoutMilliseconds: Int32 = 5

    public let pipeline: Pipeline
    public let statistics: WorkerStatistics
    /// The CPU the thread is pinned to, and how long it polls empty rings before sleeping.
    public let options: WorkerOptions
    private let insideRX: RXRing
    private let outsideRX: RXRing
    private let insideTX: TXRing
    private let outsideTX: TXRing
    private let stopFlag: UnsafeMutablePointer<UInt64>
    private var thread: pthread_t?

    /// Opens the rings of worker `index` on both interfaces. A worker built again after its
    /// interface was re-created gets the `statistics` of the one it replaces.
    public init(
        index: Int, context: DataplaneContext, inside: InterfaceInfo,
        outside: InterfaceInfo, fanoutGroupBase: UInt16,
        rxConfiguration: RXRingConfiguration = RXRingConfiguration(),
        options: WorkerOptions = WorkerOptions(), statistics: WorkerStatistics? = nil
    ) throws {
        pipeline = Pipeline(worker: index, context: context)
        self.options = options
        self.statistics = statistics ?? WorkerStatistics()
        let shared = context.workerCount > 1
        insideRX = try RXRing(
            interface: inside, fanoutGroup: shared ? fanoutGroupBase : nil,
            configuration: rxConfiguration)
        outsideRX = try RXRing(
            interface: outside, fanoutGroup: shared ? fanoutGroupBase &+ 1 : nil,
            configuration: rxConfiguration)
        insideTX = try TXRing(interface: inside, drops: context.drops[index])
        outsideTX = try TXRing(interface: outside, drops: context.drops[index])
        stopFlag = .allocate(capacity: 1)
        stopFlag.initialize(to: 0)
    }

    deinit { stopFlag.deallocate() }

    /// Starts the worker thread.
    public func start() throws {
        let unmanaged = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let result = pthread_create(
            &handle, nil,
            { argument in
                let worker = Unmanaged<DataplaneWorker>.fromOpaque(argument!).takeRetainedValue()
                worker.run()
                return nil
            }, unmanaged.toOpaque())
        guard result == 0 else {
            unmanaged.release()
            throw SystemCallError(call: "pthread_create", errno: result)
        }
        thread = handle
        if let cpu = options.cpu {
            let pinned = tagline_pin_thread(handle, Int32(clamping: cpu))
            guard pinned == 0 else {
                stop()
                throw SystemCallError(call: "pthread_setaffinity_np", errno: pinned)
            }
        }
    }

    /// Returns the frames the kernel dropped because this worker's RX rings were full, and the
    /// ring freezes, since start. Only the control thread calls it (a system call per ring).
    public func ringStatistics() -> (drops: UInt64, freezes: UInt64) {
        let inside = insideRX.collectStatistics()
        let outside = outsideRX.collectStatistics()
        return (inside.drops &+ outside.drops, inside.freezes &+ outside.freezes)
    }

    /// Asks the thread to stop and waits for it.
    public func stop() {
        tagline_atomic_store_u64(stopFlag, 1)
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }

    /// Processes one block from each RX ring; returns the frames handled. Tests and the
    /// thread loop both use it.
    @discardableResult
    public func pollOnce() -> Int { poll(now: monotonicNanoseconds()) }

    /// `pollOnce` for a caller that has read the clock already.
    private func poll(now started: UInt64) -> Int {
        let context = pipeline.context
        let worker = pipeline.worker
        context.epochs.enter(worker: worker)
        // The TX rings follow `ip link set mtu` through the forwarding table the control
        // thread publishes. The table's scope ends before the epoch.
        do {
            let forwarding = context.forwardingTable.current
            insideTX.maximumFrameLength = Ethernet.headerSize + forwarding.inside.mtu
            outsideTX.maximumFrameLength = Ethernet.headerSize + forwarding.outside.mtu
        }
        // Held frames first: a table published since the last poll may resolve their next hop,
        // and then they leave ahead of this block's packets to the same hop.
        var released = pipeline.processHeldFrames(
            insideSink: insideTX, outsideSink: outsideTX, now: started)

        // One read of the tables serves the whole block. Their scope ends before the epoch.
        var handled = 0
        do {
            let tables = context.currentTables()
            handled = insideRX.receiveBlock { frame, offload in
                _ = pipeline.processInside(
                    frame, tables: tables, offload: offload, sink: outsideTX,
                    replySink: insideTX)
            }
            handled += outsideRX.receiveBlock { frame, _ in
                _ = pipeline.processOutside(
                    frame, tables: tables, sink: insideTX, replySink: outsideTX)
            }
        }

        // Then the frames that an ARP reply or Neighbour Advertisement in this block resolved.
        if handled > 0 {
            released += pipeline.processHeldFrames(
                insideSink: insideTX, outsideSink: outsideTX, now: monotonicNanoseconds())
        }
        context.epochs.leave(worker: worker)

        if handled > 0 || released > 0 {
            outsideTX.flush()
            insideTX.flush()
        }
        if handled > 0 {
            statistics.recordBurst(packets: handled, nanoseconds: monotonicNanoseconds() - started)
        }
        return handled
    }

    /// Reads and so clears the pending error of socket `fd` (SO_ERROR), such as ENETDOWN
    /// after its interface was deleted. Returns the error, or 0 when none was pending.
    @discardableResult
    static func takeSocketError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return errno }
        return code
    }

    private func run() {
        let idle = options.idleNanoseconds
        var descriptors = (
            pollfd(fd: insideRX.fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: outsideRX.fileDescriptor, events: Int16(POLLIN), revents: 0)
        )
        // Empty polls since the last burst count as idle time, as sleeping in poll() does.
        var emptySince: UInt64? = nil
        var spinUntil = monotonicNanoseconds() &+ idle
        while tagline_atomic_load_u64(stopFlag) == 0 {
            let now = monotonicNanoseconds()
            if poll(now: now) > 0 {
                if let emptySince { statistics.recordIdle(nanoseconds: now &- emptySince) }
                emptySince = nil
                spinUntil = monotonicNanoseconds() &+ idle
                continue
            }
            if emptySince == nil { emptySince = now }
            if now < spinUntil { continue }

            // Idle for long enough: sleep until either RX socket has a block, or the timeout.
            pipeline.forgetOutboundSA()
            let timeout =
                pipeline.unresolved.isEmpty
                ? DataplaneWorker.pollTimeoutMilliseconds
                : DataplaneWorker.heldPollTimeoutMilliseconds
            _ = withUnsafeMutableBytes(of: &descriptors) { raw in
                Glibc.poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, timeout)
            }
            // A ring whose interface was deleted reports POLLERR until its error is read, so
            // poll() would return at once and the worker would spin on a full CPU.
            for descriptor in [descriptors.0, descriptors.1]
            where descriptor.revents & Int16(POLLERR) != 0 {
                DataplaneWorker.takeSocketError(descriptor.fd)
            }
            let woke = monotonicNanoseconds()
            statistics.recordIdle(nanoseconds: woke &- (emptySince ?? woke))
            emptySince = nil
            // Spin half as long after a wake-up: traffic that woke the worker often continues.
            spinUntil = woke &+ idle / 2
        }
    }
}
