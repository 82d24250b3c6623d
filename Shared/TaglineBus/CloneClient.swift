// The consumer's side of the ZeroMQ clone pattern:
//  1. subscribe to the owner's updates and heartbeats, queueing updates;
//  2. request a snapshot, which carries the owner's epoch and sequence;
//  3. apply the queued and later updates whose sequence follows the
//     snapshot's, dropping older ones.
// A gap in the sequence, an update or heartbeat from another epoch, or a
// heartbeat sequence different from ours starts again at step 2. That
// covers a missed update, an owner restarted with a new epoch, and the slow
// joiner (updates published before our subscription took effect).

import TaglineCore

extension ServiceBus {
    /// Keeps a copy of the table that `service` serves with
    /// `cloneServer(updateType:snapshotType:)`. `onSnapshot` gets the whole
    /// table after each (re)synchronisation; `onUpdate` gets each later
    /// change, with nil for a removal. Both run on the loop. `snapshotTimeout` is the
    /// seconds to wait for a snapshot reply, which grows with the table.
    public func cloneClient<Item: Codable & Sendable>(
        from owner: ServiceName, updateType: String, snapshotType: String,
        snapshotTimeout: Double = 1.0,
        fetchSnapshot: CloneClient<Item>.SnapshotFetcher? = nil,
        onSnapshot: @escaping ([String: Item]) -> Void,
        onUpdate: @escaping (String, Item?) -> Void
    ) -> CloneClient<Item> {
        let client = CloneClient<Item>(
            bus: self, owner: owner, updateType: updateType, snapshotType: snapshotType,
            onSnapshot: onSnapshot, onUpdate: onUpdate)
        client.snapshotTimeout = snapshotTimeout
        client.fetchSnapshot = fetchSnapshot
        subscribe(to: owner, type: updateType) { [weak client] (update: CloneUpdate<Item>, _) in
            client?.receive(update)
        }
        subscribe(to: owner, type: updateType + ".batch") {
            [weak client] (batch: CloneBatchUpdate<Item>, _) in client?.receive(batch)
        }
        subscribe(to: owner, type: updateType + ".heartbeat") {
            [weak client] (heartbeat: CloneHeartbeat, _) in client?.receive(heartbeat)
        }
        clones.append(client)
        client.requestSnapshot(reason: "start")
        return client
    }
}

/// A consumer's copy of a cloned table.
public final class CloneClient<Item: Codable & Sendable> {
    public let owner: ServiceName
    public let updateType: String
    public let snapshotType: String
    public private(set) var items: [String: Item] = [:]
    /// True from an applied snapshot until the next resynchronisation starts.
    public private(set) var isSynchronized = false
    /// Owner epoch of the applied snapshot.
    public private(set) var epoch: UInt64?
    /// Sequence of the last applied change.
    public private(set) var sequence: UInt64 = 0
    /// Number of snapshots applied so far.
    public private(set) var snapshotCount = 0
    /// Monotonic nanoseconds of the last heartbeat from the owner; 0 before the first.
    public private(set) var lastHeartbeat: UInt64 = 0
    /// Seconds to wait for a snapshot reply before asking again.
    public var snapshotTimeout: Double = 1.0
    /// Requests a snapshot in an encoding of the owner's own, given the timeout; the
    /// completion runs on the loop.
    public typealias SnapshotFetcher = (
        Double, @escaping (Result<SnapshotReply<Item>, BusError>) -> Void
    ) -> Void
    /// Used in place of a `snapshotType` request when set.
    public var fetchSnapshot: SnapshotFetcher?

    /// Updates received while a snapshot is outstanding; more than this
    /// many are dropped, and the sequence gap then forces another snapshot.
    static var maxQueuedUpdates: Int { 100_000 }

    private weak var bus: ServiceBus?
    private let onSnapshot: ([String: Item]) -> Void
    private let onUpdate: (String, Item?) -> Void
    private var snapshotInFlight = false
    private var queued: [CloneUpdate<Item>] = []

    init(
        bus: ServiceBus, owner: ServiceName, updateType: String, snapshotType: String,
        onSnapshot: @escaping ([String: Item]) -> Void,
        onUpdate: @escaping (String, Item?) -> Void
    ) {
        self.bus = bus
        self.owner = owner
        self.updateType = updateType
        self.snapshotType = snapshotType
        self.onSnapshot = onSnapshot
        self.onUpdate = onUpdate
    }

    /// Drops the synchronised state and requests a snapshot from the owner. The
    /// current items stay readable until the snapshot replaces them.
    func requestSnapshot(reason: String) {
        isSynchronized = false
        guard !snapshotInFlight, let bus else { return }
        snapshotInFlight = true
        queued = []
        bus.logger.info("BUS", "\(owner.rawValue) \(updateType): requesting snapshot (\(reason))")
        let completion: (Result<SnapshotReply<Item>, BusError>) -> Void = {
            [weak self] result in
            guard let self else { return }
            self.snapshotInFlight = false
            switch result {
            case .success(let snapshot):
                self.apply(snapshot)
            case .failure(let error):
                self.bus?.logger.info(
                    "BUS", "\(self.owner.rawValue) \(self.snapshotType) failed: \(error); retrying")
                // The owner is probably down; ask again shortly.
                self.bus?.loop.addOneShot(after: 0.2) { [weak self] in
                    guard let self, !self.isSynchronized else { return }
                    self.requestSnapshot(reason: "retry")
                }
            }
        }
        if let fetchSnapshot {
            fetchSnapshot(snapshotTimeout, completion)
        } else {
            bus.client(owner).send(
                snapshotType, EmptyRequest(), as: SnapshotReply<Item>.self,
                timeout: snapshotTimeout, loop: bus.loop, completion: completion)
        }
    }

    private func apply(_ snapshot: SnapshotReply<Item>) {
        items = snapshot.items
        epoch = snapshot.epoch
        sequence = snapshot.sequence
        isSynchronized = true
        snapshotCount += 1
        bus?.logger.info(
            "BUS",
            "\(owner.rawValue) \(updateType): synchronised, \(items.count) items, "
                + "epoch \(snapshot.epoch) sequence \(snapshot.sequence)")
        let backlog = queued
        queued = []
        onSnapshot(items)
        for update in backlog where isSynchronized {
            receive(update)
        }
    }

    func receive(_ update: CloneUpdate<Item>) {
        guard isSynchronized else {
            if queued.count < CloneClient.maxQueuedUpdates { queued.append(update) }
            return
        }
        if update.epoch != epoch {
            requestSnapshot(reason: "owner epoch changed to \(update.epoch)")
            return
        }
        if update.sequence <= sequence { return }
        if update.sequence != sequence + 1 {
            requestSnapshot(reason: "missed updates \(sequence + 1)..<\(update.sequence)")
            return
        }
        sequence = update.sequence
        if let item = update.item {
            items[update.key] = item
        } else {
            items[update.key] = nil
        }
        onUpdate(update.key, update.item)
    }

    /// Applies a batch as its changes sent one by one. One ZeroMQ subscription carries
    /// batches and single updates, so they arrive in sequence order.
    func receive(_ batch: CloneBatchUpdate<Item>) {
        if isSynchronized, batch.epoch != epoch {
            requestSnapshot(reason: "owner epoch changed to \(batch.epoch)")
            return
        }
        for (offset, change) in batch.changes.enumerated() {
            let (sequence, overflow) = batch.firstSequence.addingReportingOverflow(
                UInt64(offset))
            guard !overflow else { return }
            receive(
                CloneUpdate(
                    epoch: batch.epoch, sequence: sequence, key: change.key, item: change.item))
        }
    }

    func receive(_ heartbeat: CloneHeartbeat) {
        lastHeartbeat = monotonicNanoseconds()
        guard isSynchronized else {
            // The owner is reachable again: do not wait for the retry timer.
            if !snapshotInFlight { requestSnapshot(reason: "owner is back") }
            return
        }
        if heartbeat.epoch != epoch {
            requestSnapshot(reason: "owner epoch changed to \(heartbeat.epoch)")
        } else if heartbeat.sequence != sequence {
            requestSnapshot(
                reason: "heartbeat sequence \(heartbeat.sequence), ours \(sequence)")
        }
    }
}
