// Message types and bodies exchanged on the bus. Each body is the JSON of
// the struct named beside its type. A request on a service's ROUTER socket
// gets exactly one reply whose type is the request type with ".reply"
// appended, or "error" with an ErrorReply body.

/// Names of the four services, used as envelope sender and socket file names.
public enum ServiceName: String, CaseIterable, Codable, Sendable {
    case ikeNegotiator = "ike-negotiator"
    case saManager = "sa-manager"
    case dataplane = "dataplane-tagger"
    case bindingStore = "cts-binding-store"
}

/// Bus message types. Requests go to the owner's ROUTER socket; events are
/// published on its PUB socket with the type as the subscription topic.
public enum MessageType {
    // sa-manager requests
    /// SPIAllocateRequest -> SPIAllocateReply
    public static let spiAllocate = "sa.spi.allocate"
    /// ChildSAInstallRequest -> EmptyReply
    public static let childInstall = "sa.child.install"
    /// ChildSADeleteRequest -> EmptyReply
    public static let childDelete = "sa.child.delete"
    /// SequenceLeaseRequest -> SequenceLeaseReply
    public static let sequenceLease = "sa.seq.lease"
    /// EmptyRequest -> ChildSAListReply (with counters)
    public static let childList = "sa.child.list"
    /// Clone-pattern snapshot of Child SAs: EmptyRequest -> SnapshotReply<ChildSA>
    public static let childSnapshot = "sa.child.snapshot"
    /// Published by sa-manager: CloneUpdate<ChildSA>
    public static let childUpdate = "sa.child.update"
    /// Published by sa-manager when a Child SA reaches its soft lifetime
    /// (hard false, once per SA) and when it reaches its hard lifetime and is deleted: ChildSAExpiring
    public static let childExpiring = "sa.child.expiring"

    // cts-binding-store requests
    /// BindingChangeRequest -> EmptyReply
    public static let bindingAdd = "cts.binding.add"
    /// BindingChangeRequest -> EmptyReply
    public static let bindingDelete = "cts.binding.del"
    /// BindingBatchRequest -> BindingBatchReply: many adds and deletes in one transaction
    public static let bindingBatch = "cts.binding.batch"
    /// BindingLookupRequest -> BindingLookupReply
    public static let bindingLookup = "cts.binding.lookup"
    /// EmptyRequest -> BindingListReply
    public static let bindingList = "cts.binding.list"
    /// EmptyRequest -> BindingCountReply
    public static let bindingCount = "cts.binding.count"
    /// EmptyRequest -> SXPConnectionsReply
    public static let sxpConnections = "cts.sxp.connections"
    /// Clone-pattern snapshot of effective bindings: EmptyRequest -> SnapshotReply<SGTBinding>
    public static let bindingSnapshot = "cts.binding.snapshot"
    /// The binding clone snapshot as PackedBindingSnapshot, for large tables.
    public static let bindingSnapshotPacked = "cts.binding.snapshot.packed"
    /// Published by cts-binding-store: CloneUpdate<SGTBinding>
    public static let bindingUpdate = "cts.binding.update"

    // dataplane-tagger
    /// EmptyRequest -> DataplaneStatusReply
    public static let dataplaneStatus = "dp.status"
    /// Published by the dataplane every 200 ms while counters change: CounterReport
    public static let counterReport = "dp.counters"
    /// Published by the dataplane while debug is on: DebugLine
    public static let debugSGT = "debug.ipsec.metadata.sgt"

    // ike-negotiator
    /// EmptyRequest -> IKESAListReply
    public static let ikeList = "ike.sa.list"
    /// ClearRequest -> EmptyReply, or an error when no IKE SA has that tunnel id
    public static let ikeClear = "ike.sa.clear"
    /// EmptyRequest -> IKEStatsReply
    public static let ikeStats = "ike.stats"
    /// ChildSAClearRequest -> ChildSAClearReply: deletes Child SAs with an
    /// INFORMATIONAL Delete to the peer and keeps the IKE SAs
    public static let childClear = "ike.child.clear"
    /// IKEInitiateRequest -> IKEInitiateReply: new IKE SAs for a configured
    /// target, even when one is up already
    public static let ikeInitiate = "ike.initiate"
    /// Published by ike-negotiator: DebugLine
    public static let debugIKEv2 = "debug.crypto.ikev2.internal"
    /// Published by ike-negotiator when an IKE SA comes up or goes down: IKESAEvent
    public static let ikeEvent = "ike.sa.event"

    /// Any service: DebugSetRequest -> EmptyReply
    public static let debugSet = "debug.set"
    /// Any service: EmptyRequest -> PingReply
    public static let ping = "ping"
    /// Reply type for a failed request: ErrorReply
    public static let error = "error"

    public static func reply(to requestType: String) -> String { requestType + ".reply" }
}

public struct EmptyRequest: Codable, Sendable { public init() {} }
public struct EmptyReply: Codable, Sendable { public init() {} }

public struct ErrorReply: Codable, Sendable, Error {
    public var message: String
    public init(message: String) { self.message = message }
}

public struct PingReply: Codable, Sendable {
    public var service: String
    public var pid: Int32
    public var startedAt: Double
    public init(service: String, pid: Int32, startedAt: Double) {
        self.service = service
        self.pid = pid
        self.startedAt = startedAt
    }
}

public struct SPIAllocateRequest: Codable, Sendable {
    /// SPIs to reserve with this request; nil means 1. sa-manager reserves
    /// at most `SPIAllocateRequest.maximumCount`.
    public var count: Int?
    public static let maximumCount = 256
    public init(count: Int? = nil) { self.count = count }
}

public struct SPIAllocateReply: Codable, Sendable {
    public var spi: UInt32
    /// The SPIs reserved besides `spi` when the request asked for more than one.
    public var additionalSPIs: [UInt32]?
    public init(spi: UInt32, additionalSPIs: [UInt32]? = nil) {
        self.spi = spi
        self.additionalSPIs = additionalSPIs
    }
}

public struct ChildSAInstallRequest: Codable, Sendable {
    public var childSA: ChildSA
    public init(childSA: ChildSA) { self.childSA = childSA }
}

public struct ChildSADeleteRequest: Codable, Sendable {
    public var inboundSPI: UInt32
    public init(inboundSPI: UInt32) { self.inboundSPI = inboundSPI }
}

/// A Child SA at its soft lifetime (rekey it) or at its hard lifetime (deleted already).
public struct ChildSAExpiring: Codable, Sendable, Equatable {
    public var inboundSPI: UInt32
    public var hard: Bool
    public init(inboundSPI: UInt32, hard: Bool) {
        self.inboundSPI = inboundSPI
        self.hard = hard
    }
}

/// A block of outbound ESP sequence numbers the dataplane may use, so a
/// restarted dataplane never reuses one.
public struct SequenceLeaseRequest: Codable, Sendable {
    public var inboundSPI: UInt32
    public var count: UInt64
    public init(inboundSPI: UInt32, count: UInt64) {
        self.inboundSPI = inboundSPI
        self.count = count
    }
}

public struct SequenceLeaseReply: Codable, Sendable {
    /// First sequence number of the lease; the lease covers first ..< first + count.
    public var first: UInt64
    public var count: UInt64
    public init(first: UInt64, count: UInt64) {
        self.first = first
        self.count = count
    }
}

public struct ChildSAStatus: Codable, Sendable {
    public var childSA: ChildSA
    public var counters: SACounters
    /// The dataplane's MTUs for the SA; nil until it reported them.
    public var pathMTU: SAPathMTU?
    public init(childSA: ChildSA, counters: SACounters) {
        self.childSA = childSA
        self.counters = counters
    }
    public init(childSA: ChildSA, counters: SACounters, pathMTU: SAPathMTU?) {
        self.init(childSA: childSA, counters: counters)
        self.pathMTU = pathMTU
    }
}

/// The MTUs of one SA pair, as `show crypto ipsec sa` prints them.
public struct SAPathMTU: Codable, Sendable, Hashable {
    /// `ipMTU`, or less while an MTU learned from ICMP about the SA's packets is in force.
    public var pathMTU: Int
    /// MTU of the outside interface.
    public var ipMTU: Int
    /// Name of the outside interface.
    public var interface: String
    public init(pathMTU: Int, ipMTU: Int, interface: String) {
        self.pathMTU = pathMTU
        self.ipMTU = ipMTU
        self.interface = interface
    }
}

public struct ChildSAListReply: Codable, Sendable {
    public var childSAs: [ChildSAStatus]
    public init(childSAs: [ChildSAStatus]) { self.childSAs = childSAs }
}

/// One clone-pattern update: `item` set means add or replace the entry named
/// `key`; nil means remove it. Sequence numbers are assigned by the owner only.
/// `epoch` changes whenever the owner restarts without its sequence state, so
/// a consumer that sees a new epoch takes a fresh snapshot.
public struct CloneUpdate<Item: Codable & Sendable>: Codable, Sendable {
    public var epoch: UInt64
    public var sequence: UInt64
    public var key: String
    public var item: Item?
    public init(epoch: UInt64, sequence: UInt64, key: String, item: Item?) {
        self.epoch = epoch
        self.sequence = sequence
        self.key = key
        self.item = item
    }
}

/// One change of a clone batch: `item` nil removes `key`.
public struct CloneChange<Item: Codable & Sendable>: Codable, Sendable {
    public var key: String
    public var item: Item?
    public init(key: String, item: Item?) {
        self.key = key
        self.item = item
    }
}

/// Several clone-pattern updates in one event, published on `<updateType>.batch`:
/// change `i` carries sequence `firstSequence + i`, so a consumer applies it exactly as
/// the same changes sent one by one.
public struct CloneBatchUpdate<Item: Codable & Sendable>: Codable, Sendable {
    public var epoch: UInt64
    public var firstSequence: UInt64
    public var changes: [CloneChange<Item>]
    public init(epoch: UInt64, firstSequence: UInt64, changes: [CloneChange<Item>]) {
        self.epoch = epoch
        self.firstSequence = firstSequence
        self.changes = changes
    }
}

/// A full snapshot; `sequence` is the owner's sequence at the time it was taken.
public struct SnapshotReply<Item: Codable & Sendable>: Codable, Sendable {
    public var epoch: UInt64
    public var sequence: UInt64
    public var items: [String: Item]
    public init(epoch: UInt64, sequence: UInt64, items: [String: Item]) {
        self.epoch = epoch
        self.sequence = sequence
        self.items = items
    }
}

/// Published by a clone owner once a second, so a consumer notices a missed
/// update (sequence ahead of its own) or a restarted owner (new epoch).
public struct CloneHeartbeat: Codable, Sendable {
    public var epoch: UInt64
    public var sequence: UInt64
    public init(epoch: UInt64, sequence: UInt64) {
        self.epoch = epoch
        self.sequence = sequence
    }
}

public struct BindingChangeRequest: Codable, Sendable {
    public var prefix: IPPrefix
    /// Required for add; ignored for delete.
    public var sgt: SGT?
    public var source: BindingSource
    public init(prefix: IPPrefix, sgt: SGT?, source: BindingSource) {
        self.prefix = prefix
        self.sgt = sgt
        self.source = source
    }
}

/// Adds (`sgt` set) and deletes (`sgt` nil) applied in order and committed in one
/// transaction before the reply. Either every change is applied or none is.
public struct BindingBatchRequest: Codable, Sendable {
    public var changes: [BindingChangeRequest]
    public init(changes: [BindingChangeRequest]) { self.changes = changes }
}

public struct BindingBatchReply: Codable, Sendable {
    /// Adds and deletes that changed a stored binding.
    public var applied: Int
    /// Deletes of bindings that were not stored.
    public var missing: Int
    public init(applied: Int, missing: Int) {
        self.applied = applied
        self.missing = missing
    }
}

public struct BindingLookupRequest: Codable, Sendable {
    public var address: IPAddress
    public init(address: IPAddress) { self.address = address }
}

public struct BindingLookupReply: Codable, Sendable {
    public var binding: SGTBinding?
    public init(binding: SGTBinding?) { self.binding = binding }
}

public struct BindingListReply: Codable, Sendable {
    /// Every stored binding, winners and shadowed ones alike.
    public var bindings: [SGTBinding]
    /// Bindings that the dataplane uses (the highest-priority source per prefix).
    public var effective: [SGTBinding]
    public init(bindings: [SGTBinding], effective: [SGTBinding]) {
        self.bindings = bindings
        self.effective = effective
    }
}

/// Binding counts without the bindings, cheap to ask for often.
public struct BindingCountReply: Codable, Sendable {
    /// Stored bindings of each source, keyed by `BindingSource.rawValue`.
    public var bySource: [String: Int]
    /// Prefixes with an effective binding.
    public var effective: Int
    public init(bySource: [String: Int], effective: Int) {
        self.bySource = bySource
        self.effective = effective
    }
}

public struct CounterReport: Codable, Sendable {
    /// Totals since the dataplane started, keyed by inbound SPI in decimal.
    public var counters: [String: SACounters]
    /// Drops not tied to one SA, keyed by reason name.
    public var drops: [String: UInt64]
    public var dataplaneStartedAt: Double
    /// MTUs keyed by inbound SPI in decimal, as in `counters`.
    public var pathMTUs: [String: SAPathMTU]?
    public init(counters: [String: SACounters], drops: [String: UInt64], dataplaneStartedAt: Double)
    {
        self.counters = counters
        self.drops = drops
        self.dataplaneStartedAt = dataplaneStartedAt
    }
    public init(
        counters: [String: SACounters], drops: [String: UInt64], dataplaneStartedAt: Double,
        pathMTUs: [String: SAPathMTU]?
    ) {
        self.init(counters: counters, drops: drops, dataplaneStartedAt: dataplaneStartedAt)
        self.pathMTUs = pathMTUs
    }
}

public struct WorkerStatus: Codable, Sendable {
    public var worker: Int
    public var packets: UInt64
    public var bursts: UInt64
    public var busyNanoseconds: UInt64
    public var idleNanoseconds: UInt64
    /// The CPU the worker is pinned to; nil when the scheduler places it.
    public var cpu: Int?
    /// Frames the kernel dropped because the worker's RX rings were full, and the times it
    /// froze a ring for that reason (PACKET_STATISTICS). Nil from a dataplane without them.
    public var ringDrops: UInt64?
    public var ringFreezes: UInt64?
    public init(
        worker: Int, packets: UInt64, bursts: UInt64, busyNanoseconds: UInt64,
        idleNanoseconds: UInt64, cpu: Int? = nil
    ) {
        self.worker = worker
        self.packets = packets
        self.bursts = bursts
        self.busyNanoseconds = busyNanoseconds
        self.idleNanoseconds = idleNanoseconds
        self.cpu = cpu
    }
}

public struct DataplaneStatusReply: Codable, Sendable {
    public var insideInterface: String
    public var outsideInterface: String
    public var installedSAs: Int
    public var bindings: Int
    public var drops: [String: UInt64]
    public var workers: [WorkerStatus]
    /// Binding tables published to the workers since start, and the binding changes they
    /// carried: many changes share one table while bindings change quickly.
    public var bindingTables: Int?
    public var bindingChanges: Int?
    /// The clone sequence of cts-binding-store that the published binding table holds, and
    /// the CLOCK_MONOTONIC nanoseconds when it was published (system-wide, so another
    /// process can compare its own timestamps).
    public var bindingSequence: UInt64?
    public var bindingPublishedAt: UInt64?
    public init(
        insideInterface: String, outsideInterface: String, installedSAs: Int,
        bindings: Int, drops: [String: UInt64], workers: [WorkerStatus]
    ) {
        self.insideInterface = insideInterface
        self.outsideInterface = outsideInterface
        self.installedSAs = installedSAs
        self.bindings = bindings
        self.drops = drops
        self.workers = workers
    }
}

/// One line of `debug ...` output, already formatted as IOS prints it.
public struct DebugLine: Codable, Sendable {
    public var time: Double
    public var text: String
    public init(time: Double, text: String) {
        self.time = time
        self.text = text
    }
}

public struct DebugSetRequest: Codable, Sendable {
    /// Debug category, such as "crypto ipsec metadata sgt" or "crypto ikev2 internal".
    public var category: String
    public var enabled: Bool
    public init(category: String, enabled: Bool) {
        self.category = category
        self.enabled = enabled
    }
}

public struct ClearRequest: Codable, Sendable {
    /// Clear only the IKE SA with this local ID (tunnel id); nil clears all.
    public var tunnelID: Int?
    public init(tunnelID: Int?) { self.tunnelID = tunnelID }
}

/// `clear crypto sa [peer ADDRESS]`.
public struct ChildSAClearRequest: Codable, Sendable {
    /// Clear only the Child SAs of IKE SAs with this peer; nil clears all.
    public var peer: IPAddress?
    public init(peer: IPAddress?) { self.peer = peer }
}

public struct ChildSAClearReply: Codable, Sendable {
    /// Child SAs deleted.
    public var cleared: Int
    public init(cleared: Int) { self.cleared = cleared }
}

/// An IKE SA as `show crypto ikev2 sa detailed` prints it.
public struct IKESAStatus: Codable, Sendable {
    public var tunnelID: Int
    public var localAddress: IPAddress
    public var localPort: UInt16
    public var remoteAddress: IPAddress
    public var remotePort: UInt16
    /// "READY", "IN-NEG", "DELETE".
    public var status: String
    public var encryption: String
    public var integrity: String
    public var prf: String
    public var dhGroup: Int
    public var authSign: String
    public var authVerify: String
    public var lifetimeSeconds: Int
    public var activeSeconds: Int
    public var localSPI: String
    public var remoteSPI: String
    public var localID: String
    public var remoteID: String
    public var localRequestMessageID: UInt32
    public var remoteRequestMessageID: UInt32
    public var localNextMessageID: UInt32
    public var remoteNextMessageID: UInt32
    public var isInitiator: Bool
    public var natDetected: Bool
    public var sgtEnabled: Bool
    public var childSAInboundSPIs: [UInt32]
    /// Seconds between dead peer detection checks; nil when DPD is off.
    /// Optional, so that replies of negotiators without it still decode.
    public var dpdInterval: Int? = nil
    /// Seconds between retransmissions of an unanswered check; nil when DPD is off.
    public var dpdRetry: Int? = nil

    public init(
        tunnelID: Int, localAddress: IPAddress, localPort: UInt16,
        remoteAddress: IPAddress, remotePort: UInt16, status: String, encryption: String,
        integrity: String, prf: String, dhGroup: Int, authSign: String,
        authVerify: String, lifetimeSeconds: Int, activeSeconds: Int, localSPI: String,
        remoteSPI: String, localID: String, remoteID: String,
        localRequestMessageID: UInt32, remoteRequestMessageID: UInt32,
        localNextMessageID: UInt32, remoteNextMessageID: UInt32, isInitiator: Bool,
        natDetected: Bool, sgtEnabled: Bool, childSAInboundSPIs: [UInt32]
    ) {
        self.tunnelID = tunnelID
        self.localAddress = localAddress
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.status = status
        self.encryption = encryption
        self.integrity = integrity
        self.prf = prf
        self.dhGroup = dhGroup
        self.authSign = authSign
        self.authVerify = authVerify
        self.lifetimeSeconds = lifetimeSeconds
        self.activeSeconds = activeSeconds
        self.localSPI = localSPI
        self.remoteSPI = remoteSPI
        self.localID = localID
        self.remoteID = remoteID
        self.localRequestMessageID = localRequestMessageID
        self.remoteRequestMessageID = remoteRequestMessageID
        self.localNextMessageID = localNextMessageID
        self.remoteNextMessageID = remoteNextMessageID
        self.isInitiator = isInitiator
        self.natDetected = natDetected
        self.sgtEnabled = sgtEnabled
        self.childSAInboundSPIs = childSAInboundSPIs
    }
}

public struct IKESAListReply: Codable, Sendable {
    public var ikeSAs: [IKESAStatus]
    public init(ikeSAs: [IKESAStatus]) { self.ikeSAs = ikeSAs }
}

public struct IKESAEvent: Codable, Sendable {
    /// "up" or "down".
    public var event: String
    public var ikeSA: IKESAStatus
    public init(event: String, ikeSA: IKESAStatus) {
        self.event = event
        self.ikeSA = ikeSA
    }
}

/// IKE counters for `show crypto ikev2 stats`: SAs by state and every
/// datagram the negotiator dropped, by reason.
public struct IKEStatsReply: Codable, Sendable {
    public var establishedSAs: Int
    public var halfOpenSAs: Int
    /// Drops since the negotiator started, keyed by reason ("malformed",
    /// "integrity check failed", "unknown SPI", ...).
    public var drops: [String: UInt64]
    public var startedAt: Double
    public init(establishedSAs: Int, halfOpenSAs: Int, drops: [String: UInt64], startedAt: Double) {
        self.establishedSAs = establishedSAs
        self.halfOpenSAs = halfOpenSAs
        self.drops = drops
        self.startedAt = startedAt
    }
}

/// Starts `count` new IKE SAs, each with the first Child SA of the target, for
/// the crypto map entry or tunnel named `target` ("MAP SEQ" or the interface
/// name), or for the only configured target when nil. An IKE SA that is up
/// already is not reused for them.
public struct IKEInitiateRequest: Codable, Sendable {
    public var target: String?
    public var count: Int
    public init(target: String?, count: Int) {
        self.target = target
        self.count = count
    }
}

public struct IKEInitiateReply: Codable, Sendable {
    /// The target the IKE SAs were started for.
    public var target: String
    /// Tunnel ids of the IKE SAs started, in the order they were started.
    public var tunnelIDs: [Int]
    public init(target: String, tunnelIDs: [Int]) {
        self.target = target
        self.tunnelIDs = tunnelIDs
    }
}
