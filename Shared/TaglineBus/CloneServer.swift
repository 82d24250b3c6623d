// The owner's side of the ZeroMQ clone pattern. The owner alone assigns
// sequence numbers. Every change increments the sequence and is published as
// a CloneUpdate. A snapshot request returns every item with the current
// sequence. A CloneHeartbeat on `<updateType>.heartbeat` every second lets
// consumers notice a missed update or a restarted owner. Many changes at
// once go out as one CloneBatchUpdate on `<updateType>.batch`.

import TaglineCore

extension ServiceBus {
    /// Starts serving a keyed table to clone consumers. The server replies
    /// to `snapshotType` requests and publishes heartbeats every second.
    /// The server persists nothing; the owner reloads `initialItems` from
    /// its own store at start. `epoch` defaults to a random 64-bit value, so
    /// consumers see a restarted owner as a new epoch and take a snapshot.
    public func cloneServer<Item: Codable & Sendable>(
        updateType: String, snapshotType: String, initialItems: [String: Item] = [:],
        epoch: UInt64? = nil, sequence: UInt64 = 0
    ) -> CloneServer<Item> {
        var generator = SystemRandomNumberGenerator()
        let server = CloneServer<Item>(
            bus: self, updateType: updateType, items: initialItems,
            epoch: epoch ?? generator.next(), sequence: sequence)
        handle(snapshotType) { [unowned server] (_: EmptyRequest, _) in
            SnapshotReply(epoch: server.epoch, sequence: server.sequence, items: server.items)
        }
        let timer = loop.addTimer(every: CloneServer<Item>.heartbeatInterval) {
            [weak server] in server?.publishHeartbeat()
        }
        ownedTimers.append(timer)
        clones.append(server)
        return server
    }
}

/// The owner's copy of a cloned table.
public final class CloneServer<Item: Codable & Sendable> {
    /// Seconds between heartbeats.
    public static var heartbeatInterval: Double { 1.0 }

    public let updateType: String
    /// `updateType + ".heartbeat"`.
    public var heartbeatType: String { updateType + ".heartbeat" }
    /// Random at start unless the owner passed a persisted one.
    public let epoch: UInt64
    /// Sequence of the last change; 0 before the first.
    public private(set) var sequence: UInt64
    public private(set) var items: [String: Item]
    private weak var bus: ServiceBus?

    init(
        bus: ServiceBus, updateType: String, items: [String: Item], epoch: UInt64,
        sequence: UInt64
    ) {
        self.bus = bus
        self.updateType = updateType
        self.items = items
        self.epoch = epoch
        self.sequence = sequence
    }

    /// Adds or replaces `key` and publishes the change with the next sequence.
    public func set(_ key: String, _ item: Item) {
        items[key] = item
        publishChange(key: key, item: item)
    }

    /// Removes `key` and publishes the removal; an absent key changes nothing.
    public func remove(_ key: String) {
        guard items.removeValue(forKey: key) != nil else { return }
        publishChange(key: key, item: nil)
    }

    /// Applies `changes` in order (nil removes the key) and publishes them as one
    /// CloneBatchUpdate on `updateType + ".batch"`, one sequence number per change. Removals
    /// of absent keys are skipped. A single change goes out as a plain CloneUpdate.
    public func apply(_ changes: [CloneChange<Item>]) {
        var effective: [CloneChange<Item>] = []
        effective.reserveCapacity(changes.count)
        for change in changes {
            if let item = change.item {
                items[change.key] = item
            } else if items.removeValue(forKey: change.key) == nil {
                continue
            }
            effective.append(change)
        }
        if effective.count == 1, let only = effective.first {
            publishChange(key: only.key, item: only.item)
            return
        }
        guard !effective.isEmpty else { return }
        let first = sequence + 1
        sequence += UInt64(effective.count)
        bus?.publish(
            batchType, CloneBatchUpdate(epoch: epoch, firstSequence: first, changes: effective))
    }

    /// `updateType + ".batch"`.
    public var batchType: String { updateType + ".batch" }

    /// Applies a change as `set` does but loses its update, as a full
    /// subscriber queue would; tests use it to check gap recovery.
    func setWithoutPublishing(_ key: String, _ item: Item) {
        items[key] = item
        sequence += 1
    }

    private func publishChange(key: String, item: Item?) {
        sequence += 1
        bus?.publish(
            updateType,
            CloneUpdate(epoch: epoch, sequence: sequence, key: key, item: item))
    }

    /// Publishes the current epoch and sequence; the bus calls it every second.
    public func publishHeartbeat() {
        bus?.publish(heartbeatType, CloneHeartbeat(epoch: epoch, sequence: sequence))
    }
}
