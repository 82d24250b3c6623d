// Group commit of binding changes. Add, delete and batch requests that
// arrive in one turn of the event loop are stored in one SQLite transaction
// and sent to the dataplane as one clone batch. At thousands of changes a
// second this costs one commit and one event per turn instead of one per
// change. Each reply follows the commit, so every acknowledged change
// survives SIGKILL.

import TaglineBus
import TaglineCore
import TaglineStore

/// Requests waiting for the next commit, in arrival order.
final class PendingCommit {
    enum Kind {
        case add
        case delete
        case batch
    }

    struct Entry {
        var kind: Kind
        var changes: [BindingChangeRequest]
        var sender: String
        /// Nil for changes from inside the store, such as bindings learned over SXP.
        var responder: Responder?
    }

    var entries: [Entry] = []
    var scheduled = false
}

extension BindingService {
    /// Maximum number of changes in one batch request.
    static let maximumBatchSize = 10_000
    /// Commits that take at least this long are logged, since replies wait for them.
    static let slowCommitMilliseconds: UInt64 = 100

    /// Registers the add, delete and batch requests, which all go through the commit queue.
    func registerChangeHandlers() {
        bus.handleDeferred(MessageType.bindingAdd) {
            [unowned self] (request: BindingChangeRequest, envelope, responder) in
            enqueue(.add, [request], from: envelope.sender, responder)
        }
        bus.handleDeferred(MessageType.bindingDelete) {
            [unowned self] (request: BindingChangeRequest, envelope, responder) in
            enqueue(.delete, [request], from: envelope.sender, responder)
        }
        bus.handleDeferred(MessageType.bindingBatch) {
            [unowned self] (request: BindingBatchRequest, envelope, responder) in
            enqueue(.batch, request.changes, from: envelope.sender, responder)
        }
    }

    /// Checks a request and queues it for the commit at the end of this loop turn. A request
    /// that fails the checks gets its error reply at once and changes nothing.
    private func enqueue(
        _ kind: PendingCommit.Kind, _ changes: [BindingChangeRequest], from sender: String,
        _ responder: Responder
    ) {
        do {
            try check(kind, changes)
        } catch {
            responder.fail(error)
            return
        }
        queue(
            PendingCommit.Entry(kind: kind, changes: changes, sender: sender, responder: responder))
    }

    /// Queues changes made inside the store, such as bindings learned over SXP, for the
    /// same commit as the bus requests of this loop turn. Failures are logged by the commit.
    func submit(_ changes: [BindingChangeRequest], from sender: String) {
        queue(PendingCommit.Entry(kind: .batch, changes: changes, sender: sender, responder: nil))
    }

    /// Adds `entry` to the commit at the end of this loop turn, scheduling it if needed.
    private func queue(_ entry: PendingCommit.Entry) {
        pending.entries.append(entry)
        guard !pending.scheduled else { return }
        pending.scheduled = true
        bus.loop.addOneShot(after: 0) { [unowned self] in commitPending() }
    }

    private func check(_ kind: PendingCommit.Kind, _ changes: [BindingChangeRequest]) throws {
        guard changes.count <= BindingService.maximumBatchSize else {
            throw ErrorReply(
                message: "binding batch of \(changes.count) changes is too large: "
                    + "send at most \(BindingService.maximumBatchSize) per request")
        }
        for change in changes {
            try checkWritable(change.source)
            if kind == .add, change.sgt == nil {
                throw ErrorReply(message: "binding add for \(change.prefix) is missing the SGT")
            }
        }
    }

    /// Stores every queued change in one transaction, then updates the effective table,
    /// publishes the effective changes as one clone batch and replies to each request.
    /// When the transaction fails, nothing is stored and every queued request fails.
    func commitPending() {
        let entries = pending.entries
        pending.entries = []
        pending.scheduled = false
        guard !entries.isEmpty else { return }

        let all = entries.flatMap(\.changes)
        let outcomes: [Bool]
        let started = monotonicNanoseconds()
        do {
            outcomes = try store.apply(all.map { ($0.prefix, $0.source, $0.sgt) })
            let milliseconds = (monotonicNanoseconds() - started) / 1_000_000
            if milliseconds >= BindingService.slowCommitMilliseconds {
                logger.warning(
                    "TAG", "storing \(all.count) binding changes took \(milliseconds) ms")
            }
        } catch {
            logger.error(
                "TAG",
                "storing \(all.count) binding changes of \(entries.count) requests failed: \(error)"
            )
            for entry in entries { entry.responder?.fail(error) }
            return
        }

        var published: [CloneChange<SGTBinding>] = []
        var offset = 0
        for entry in entries {
            let changed = Array(outcomes[offset..<(offset + entry.changes.count)])
            offset += entry.changes.count
            for (change, changedRow) in zip(entry.changes, changed) where changedRow {
                let effective: EffectiveBindingChange?
                if let sgt = change.sgt {
                    effective = table.add(
                        SGTBinding(prefix: change.prefix, sgt: sgt, source: change.source))
                } else {
                    effective = table.remove(prefix: change.prefix, source: change.source)
                }
                if let effective {
                    onEffectiveChange(effective)
                    published.append(
                        CloneChange(key: effective.prefix.description, item: effective.binding))
                }
            }
            reply(to: entry, changed: changed)
        }
        clone.apply(published)
    }

    /// Replies to one committed request and logs it: each add and delete at notice level, a
    /// batch as one debug line.
    private func reply(to entry: PendingCommit.Entry, changed: [Bool]) {
        guard let change = entry.changes.first else {
            entry.responder?.reply(BindingBatchReply(applied: 0, missing: 0))
            return
        }
        switch entry.kind {
        case .add:
            logger.notice(
                "TAG",
                "\(change.prefix) sgt \(change.sgt.map { "\($0)" } ?? "?") source "
                    + "\(change.source.rawValue) added by \(entry.sender)")
            entry.responder?.reply(EmptyReply())
        case .delete:
            guard changed.first == true else {
                entry.responder?.fail(
                    ErrorReply(
                        message: "no \(change.source.rawValue) binding for \(change.prefix)"))
                return
            }
            logger.notice(
                "TAG",
                "\(change.prefix) source \(change.source.rawValue) deleted by \(entry.sender)")
            entry.responder?.reply(EmptyReply())
        case .batch:
            let applied = changed.filter { $0 }.count
            logger.debug(
                "TAG",
                "batch of \(entry.changes.count) binding changes from \(entry.sender): "
                    + "\(applied) applied, \(entry.changes.count - applied) deletes of absent "
                    + "bindings")
            entry.responder?.reply(
                BindingBatchReply(applied: applied, missing: entry.changes.count - applied))
        }
    }
}
