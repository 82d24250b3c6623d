// The packet path on buffers in memory, without AF_PACKET or a kernel: a
// FrameSink over preallocated slots, and one worker's Pipeline built from a
// Child SA, SGT bindings and a forwarding table. Tests and the pipeline
// benchmark run frames through it in bursts, as a worker does with its rings.

import TaglineCore

/// Frame slots in memory in place of a TX ring. The slots are allocated once; `removeAll`
/// empties the sink for the next burst without freeing them.
public final class MemoryFrameSink: FrameSink {
    public let frameSize: Int
    public let slotCount: Int
    /// Byte a reserved slot is filled with, so a test can tell what the pipeline left
    /// unwritten. Nil leaves the previous contents, which saves a write per frame in benchmarks.
    public let fill: UInt8?
    private let storage: UnsafeMutableRawBufferPointer
    /// Offset and length of each committed frame within its slot.
    private let spans: UnsafeMutablePointer<(offset: Int, length: Int)>
    /// Committed frames; slot `count` is the one `reserveFrame` hands out next. One thread
    /// uses a sink and never keeps an access open across calls, so the dynamic exclusivity check
    /// (about 75 instructions per reserve or commit) is off.
    @exclusivity(unchecked) public private(set) var count = 0

    public init(frameSize: Int = 2048, slotCount: Int = 64, fill: UInt8? = nil) {
        precondition(
            frameSize > 0 && slotCount > 0,
            "invalid memory sink: frameSize and slotCount must be positive")
        self.frameSize = frameSize
        self.slotCount = slotCount
        self.fill = fill
        storage = .allocate(byteCount: frameSize * slotCount, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        spans = .allocate(capacity: slotCount)
        spans.initialize(repeating: (0, 0), count: slotCount)
    }

    deinit {
        storage.deallocate()
        spans.deallocate()
    }

    @inline(__always)
    public func reserveFrame() -> UnsafeMutableRawBufferPointer? {
        guard count < slotCount else { return nil }
        let slot = UnsafeMutableRawBufferPointer(
            start: storage.baseAddress! + count * frameSize, count: frameSize)
        if let fill { slot.initializeMemory(as: UInt8.self, repeating: fill) }
        return slot
    }

    @inline(__always)
    public func commitFrame(offset: Int, length: Int) {
        precondition(
            count < slotCount && offset >= 0 && length >= 0 && offset + length <= frameSize,
            "commit outside the reserved slot")
        spans[count] = (offset, length)
        count &+= 1
    }

    /// Returns the bytes of committed frame `index`, valid until `removeAll`.
    @inline(__always)
    public func frame(_ index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < count, "frame \(index) of \(count)")
        let span = spans[index]
        return UnsafeRawBufferPointer(
            start: storage.baseAddress! + index * frameSize + span.offset, count: span.length)
    }

    /// Copies committed frame `index` out of the sink.
    public func bytes(_ index: Int) -> [UInt8] { Array(frame(index)) }

    /// Forgets the committed frames; their slots serve the next burst.
    @inline(__always)
    public func removeAll() { count = 0 }
}

/// One gateway's packet path on memory: a single-worker Pipeline with one SA pair installed,
/// a sink for each interface, and bursts run inside the worker's epoch as a ring worker runs
/// them.
public final class MemoryPipeline {
    public let pipeline: Pipeline
    public let state: SAState
    /// Frames for the outside interface: ESP from `runInside`, ICMP errors in ESP from
    /// `runOutside`, ARP and Neighbour Solicitations.
    public let outside: MemoryFrameSink
    /// Frames for the inside interface: clear packets from `runOutside`, ICMP errors.
    public let inside: MemoryFrameSink

    /// Installs `sa` with `lease` sequence numbers, publishes `bindings` and `forwarding`,
    /// and gives each sink `slotCount` slots of the larger MTU plus the Ethernet header.
    /// Throws the crypto library's error when a key does not fit its algorithm.
    public init(
        sa: ChildSA, bindings: [SGTBinding] = [], forwarding: ForwardingTable,
        lease: SequenceLease = SequenceLease(first: 1, count: OutboundSequence.maximum),
        slotCount: Int = 64, fill: UInt8? = nil
    ) throws {
        let context = DataplaneContext(workerCount: 1, forwarding: forwarding)
        state = try SAState(childSA: sa, workerCount: 1)
        state.sequence.grant(lease)
        context.saTable.publish(SATable(states: [state]))
        context.bindingTable.publish(BindingTable(bindings: bindings))
        pipeline = Pipeline(worker: 0, context: context)
        let frameSize = Ethernet.headerSize + max(forwarding.inside.mtu, forwarding.outside.mtu)
        outside = MemoryFrameSink(frameSize: frameSize, slotCount: slotCount, fill: fill)
        inside = MemoryFrameSink(frameSize: frameSize, slotCount: slotCount, fill: fill)
    }

    public var context: DataplaneContext { pipeline.context }

    /// Runs `count` frames from the inside interface, `frame(index)` each, into `outside`
    /// (ICMP errors into `inside`). The sinks are emptied first. Returns the frames sent.
    @inline(__always)
    public func runInside(
        count: Int, offload: OffloadHeader = .none,
        frame: (Int) -> UnsafeRawBufferPointer
    ) -> Int {
        outside.removeAll()
        inside.removeAll()
        let epochs = pipeline.context.epochs
        epochs.enter(worker: 0)
        defer { epochs.leave(worker: 0) }
        let tables = pipeline.context.currentTables()
        var sent = 0
        for index in 0..<count {
            if case .forwarded(let frames) = pipeline.processInside(
                frame(index), tables: tables, offload: offload, sink: outside, replySink: inside)
            {
                sent += frames
            }
        }
        return sent
    }

    /// Runs `count` frames from the outside interface, `frame(index)` each, into `inside`
    /// (ICMP errors back through the tunnel into `outside`, which is not emptied). The inside
    /// sink is emptied first. Returns the frames sent to `inside`.
    @inline(__always)
    public func runOutside(count: Int, frame: (Int) -> UnsafeRawBufferPointer) -> Int {
        inside.removeAll()
        let epochs = pipeline.context.epochs
        epochs.enter(worker: 0)
        defer { epochs.leave(worker: 0) }
        let tables = pipeline.context.currentTables()
        var sent = 0
        for index in 0..<count {
            if case .forwarded(let frames) = pipeline.processOutside(
                frame(index), tables: tables, sink: inside, replySink: outside)
            {
                sent += frames
            }
        }
        return sent
    }
}

extension ForwardingTable {
    /// Returns the table of a gateway whose inside and outside networks are directly
    /// connected, with the link-layer address of every neighbour in `neighbours` known.
    public static func directlyConnected(
        inside: DataplaneInterface, insidePrefixes: [IPPrefix],
        outside: DataplaneInterface, outsidePrefixes: [IPPrefix],
        neighbours: [NeighbourKey: MACAddress]
    ) -> ForwardingTable {
        var routes = PrefixTable<Route>()
        for prefix in insidePrefixes {
            routes.insert(prefix, Route(interfaceIndex: inside.index, gateway: nil))
        }
        for prefix in outsidePrefixes {
            routes.insert(prefix, Route(interfaceIndex: outside.index, gateway: nil))
        }
        return ForwardingTable(
            inside: inside, outside: outside, routes: routes, neighbours: neighbours)
    }
}
