// The per-worker packet pipeline on buffers in memory. A frame from the
// inside interface is encrypted into a TX frame of the outside interface.
// An ESP frame from the outside interface is decrypted into a TX frame of
// the inside interface. The AF_PACKET rings, or a test, supply the frames and
// the TX sinks. No function of the packet path throws: each outcome is a
// verdict, and each drop increments a counter.

import CTaglineShim
import TaglineCore

/// The outcome of one received frame.
public enum PacketVerdict: Equatable, Sendable {
    /// Sent as `frames` frames (more than one when a GSO frame was segmented).
    case forwarded(frames: Int)
    /// Not the dataplane's (ARP, IKE, traffic for the gateway itself): left to the kernel.
    case passed
    /// Accepted and used up without output, such as an ESP dummy packet.
    case consumed
    /// Held until the next hop's link-layer address is known, then sent by
    /// `processHeldFrames`, or dropped after a second.
    case queued
    /// Dropped and counted under `reason`.
    case dropped(DropReason)
}

/// The frames sent and held for one packet that left as several (segments or fragments).
struct SplitFrames {
    var sent = 0
    var queued = 0
    /// The reason a frame failed when the rest would fail for it too, so the caller stops.
    var stopReason: DropReason?
    var isStopped: Bool { stopReason != nil }

    /// Counts one frame's verdict.
    mutating func add(_ verdict: PacketVerdict) {
        switch verdict {
        case .forwarded: sent += 1
        case .queued: queued += 1
        case .dropped(let reason): if SplitFrames.stopsSplit(verdict) { stopReason = reason }
        default: break
        }
    }

    /// Tells whether `verdict` fails every later frame of the packet as well: a full TX ring
    /// or spent sequence numbers. A split then stops, so that one GSO frame of many small
    /// segments costs no more than the frames that can leave.
    static func stopsSplit(_ verdict: PacketVerdict) -> Bool {
        switch verdict {
        case .dropped(.txRingFull), .dropped(.sequenceExhausted): return true
        default: return false
        }
    }

    /// Returns the packet's verdict: forwarded when a frame left, queued when one waits for
    /// its next hop, and otherwise dropped for the stop reason or else `reason`.
    func verdict(otherwise reason: DropReason) -> PacketVerdict {
        if sent > 0 { return .forwarded(frames: sent) }
        return queued > 0 ? .queued : .dropped(stopReason ?? reason)
    }
}

/// The destination of outgoing frames: a TX ring, or memory in tests.
public protocol FrameSink: AnyObject {
    /// Returns a writable frame buffer, or nil when none is free. The buffer stays valid until the
    /// next `reserveFrame` or `commitFrame` call.
    func reserveFrame() -> UnsafeMutableRawBufferPointer?
    /// Sends the frame at `offset ..< offset + length` of the buffer reserved last.
    func commitFrame(offset: Int, length: Int)
}

/// A neighbour learned from an ARP or Neighbour Advertisement frame seen by a worker.
public struct LearnedNeighbour: Equatable, Sendable {
    public var key: NeighbourKey
    public var mac: MACAddress

    public init(key: NeighbourKey, mac: MACAddress) {
        self.key = key
        self.mac = mac
    }
}

/// State shared by the control thread and all workers.
public final class DataplaneContext: @unchecked Sendable {
    public let workerCount: Int
    public let epochs: EpochDomain
    public let saTable: TableSlot<SATable>
    public let bindingTable: TableSlot<BindingTable>
    public let forwardingTable: TableSlot<ForwardingTable>
    /// `crypto ipsec fragmentation`, before or after encryption.
    public let fragmentation = FragmentationSetting()
    /// ESP Next Header that announces a CMD.
    public let cmdNextHeader: UInt8
    /// Per-worker drop counters (index = worker).
    public let drops: [DropCounters]
    /// Per-worker SGT debug events, drained by the control thread.
    public let debugQueues: [SPSCQueue<SGTDebugEvent>]
    /// Per-worker learned neighbours, drained by the control thread.
    public let neighbourQueues: [SPSCQueue<LearnedNeighbour>]
    private let debugFlag: UnsafeMutablePointer<UInt64>
    private let debugLost: UnsafeMutablePointer<UInt64>

    public init(
        workerCount: Int, forwarding: ForwardingTable,
        cmdNextHeader: UInt8 = CMDHeader.defaultNextHeader, debugQueueCapacity: Int = 1024
    ) {
        self.workerCount = workerCount
        epochs = EpochDomain(workerCount: workerCount)
        saTable = TableSlot(SATable.empty, domain: epochs)
        bindingTable = TableSlot(BindingTable.empty, domain: epochs)
        forwardingTable = TableSlot(forwarding, domain: epochs)
        self.cmdNextHeader = cmdNextHeader
        drops = (0..<workerCount).map { _ in DropCounters() }
        let filler = SGTDebugEvent(kind: .inserted, sgt: 0, source: .v4(0))
        debugQueues = (0..<workerCount).map { _ in
            SPSCQueue(capacity: debugQueueCapacity, filler: filler)
        }
        let neighbourFiller = LearnedNeighbour(
            key: NeighbourKey(interfaceIndex: 0, address: .v4(0)), mac: MACAddress(0))
        neighbourQueues = (0..<workerCount).map { _ in
            SPSCQueue(capacity: 256, filler: neighbourFiller)
        }
        debugFlag = .allocate(capacity: 1)
        debugFlag.initialize(to: 0)
        debugLost = .allocate(capacity: 1)
        debugLost.initialize(to: 0)
    }

    deinit {
        debugFlag.deallocate()
        debugLost.deallocate()
    }

    /// `debug crypto ipsec metadata sgt`: workers queue SGT events only while this is set.
    public var debugEnabled: Bool {
        get { tagline_atomic_load_u64(debugFlag) != 0 }
        set { tagline_atomic_store_u64(debugFlag, newValue ? 1 : 0) }
    }

    /// Debug events lost to full queues since the last call; resets the count.
    public func takeLostDebugEvents() -> UInt64 {
        let lost = tagline_atomic_load_u64(debugLost)
        if lost > 0 { _ = tagline_atomic_fetch_add_u64(debugLost, 0 &- lost) }
        return lost
    }

    func noteLostDebugEvent() { _ = tagline_atomic_fetch_add_u64(debugLost, 1) }

    /// Drops of all workers added up, keyed by reason name.
    public func dropTotals() -> [String: UInt64] {
        var totals = [String: UInt64]()
        for counters in drops {
            for (name, value) in counters.snapshot() { totals[name, default: 0] += value }
        }
        return totals
    }
}

/// One worker's packet path. Not thread-safe: each worker thread owns one.
public final class Pipeline {
    public let worker: Int
    public let context: DataplaneContext
    let drops: DropCounters
    /// Identification of outer IPv4 headers. It skips the dynamic exclusivity check (about 75
    /// instructions per access), because only the worker that owns the pipeline touches it,
    /// and never across a call. So does `nextHopCache`.
    @exclusivity(unchecked) var nextIdentification: UInt16 = 1
    /// Buffer and IPv6 identification for fragmentation after encryption.
    let outerFragments = OuterFragmentState()
    /// Limit of the ICMP errors this worker sends.
    var icmpRateLimit = ICMPRateLimit()
    /// Outer fragments waiting for the rest of their datagram.
    let reassembler = FragmentReassembler()
    /// Frames waiting for a next hop's link-layer address.
    let unresolved: UnresolvedQueue
    /// Forwarding table that `processHeldFrames` last looked up held next hops in.
    var servicedTable: ForwardingTable?
    /// Next hop of the last encapsulated packet.
    @exclusivity(unchecked) var nextHopCache = NextHopCache()
    /// Outbound SA of the last encrypted flow.
    @exclusivity(unchecked) var outboundSACache = OutboundSACache()
    /// Next hops of recent decapsulated packets.
    let inboundRoutes = RouteCache()

    public init(worker: Int, context: DataplaneContext) {
        precondition(worker >= 0 && worker < context.workerCount, "worker \(worker) out of range")
        self.worker = worker
        self.context = context
        self.drops = context.drops[worker]
        // A slot takes an Ethernet frame of the larger MTU, because no bigger frame fits either
        // interface.
        let forwarding = context.forwardingTable.current
        unresolved = UnresolvedQueue(
            slotSize: Ethernet.headerSize + max(forwarding.inside.mtu, forwarding.outside.mtu))
    }

    @inline(__always)
    func drop(_ reason: DropReason) -> PacketVerdict {
        drops.increment(reason)
        return .dropped(reason)
    }

    @inline(__always)
    func reportDebug(_ kind: SGTDebugEvent.Kind, sgt: UInt16, source: IPAddress) {
        guard context.debugEnabled else { return }
        queueDebugEvent(SGTDebugEvent(kind: kind, sgt: sgt, source: source))
    }

    /// Queues `event` for the control thread, or counts it lost when the queue is full. Out of
    /// line, so that a packet pays only for the check of the debug flag while debugging is off.
    @inline(never)
    func queueDebugEvent(_ event: SGTDebugEvent) {
        if !context.debugQueues[worker].push(event) {
            context.noteLostDebugEvent()
        }
    }
}
