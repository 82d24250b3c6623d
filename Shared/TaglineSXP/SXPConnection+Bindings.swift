// Bindings on a listener: learning from UPDATE, loop detection through the
// peer sequence, and the delete-hold-down and reconciliation timers that keep
// a flapping speaker from flapping the bindings. On a speaker: the UPDATE
// messages that announce bindings to the peer.

import TaglineCore

extension SXPConnection {
    /// Moves to On. A listener coming back from delete-hold-down marks every
    /// binding stale and starts the reconciliation timer.
    mutating func becomeOn(now: Double) -> [SXPConnectionAction] {
        let reconnecting = holdDownDeadline != nil
        enter(.on, now: now)
        holdDownDeadline = nil
        if settings.mode == .speaker { return [.announceAll] }
        if reconnecting {
            stale = Set(learned.keys)
            reconciliationDeadline = now + settings.reconciliation
        }
        return []
    }

    mutating func receiveUpdate(_ update: SXPUpdate, now: Double) -> [SXPConnectionAction] {
        var forgotten = [IPPrefix]()
        for prefix in update.deletions {
            stale.remove(prefix)
            if learned.removeValue(forKey: prefix) != nil { forgotten.append(prefix) }
        }

        var added = [SXPBinding]()
        for group in update.additions {
            // Our own node ID in the sequence means the binding went round a
            // loop back to us, so it is dropped.
            if group.peerSequence.contains(settings.nodeID) {
                loopDrops += group.prefixes.count
                continue
            }
            for prefix in group.prefixes {
                let binding = SXPBinding(
                    prefix: prefix, sgt: group.sgt, peerSequence: group.peerSequence)
                stale.remove(prefix)
                if learned[prefix] != binding {
                    learned[prefix] = binding
                    added.append(binding)
                }
            }
        }

        var actions = [SXPConnectionAction]()
        if !forgotten.isEmpty { actions.append(.forget(forgotten)) }
        if !added.isEmpty { actions.append(.learn(added)) }
        return actions
    }

    /// Returns the UPDATE messages that announce `adding` and withdraw
    /// `removing` to the peer, each within the 4096-byte maximum. Our node ID
    /// goes in front of each peer sequence. A binding whose sequence already
    /// contains the peer's node ID is not sent, since the peer would drop it.
    public func updates(adding: [SXPBinding], removing: [IPPrefix]) -> [SXPMessage] {
        guard let version, state == .on, settings.mode == .speaker else { return [] }
        var update = SXPUpdate(deletions: removing)
        for binding in adding {
            if let peerNodeID, binding.peerSequence.contains(peerNodeID) { continue }
            update.append(
                SXPBindingGroup(
                    peerSequence: [settings.nodeID] + binding.peerSequence, sgt: binding.sgt,
                    prefixes: [binding.prefix]))
        }
        if update.deletions.isEmpty && update.additions.isEmpty { return [] }
        return update.split(version: version).map { SXPMessage.update($0) }
    }
}
