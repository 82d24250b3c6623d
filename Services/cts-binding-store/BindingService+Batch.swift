// Batches of binding changes: many adds and deletes in one request, stored
// in one SQLite transaction and sent to the dataplane as one clone batch.
// At thousands of changes a second this costs one commit and one event per
// batch instead of one per change. The reply follows the commit, so every
// acknowledged change survives SIGKILL.

import TaglineBus
import TaglineCore
import TaglineStore

extension BindingService {
    /// Maximum number of changes in one batch request.
    static let maximumBatchSize = 10_000

    /// Checks every change, stores them all in one transaction, then applies them to the
    /// effective table and publishes the effective changes as one clone batch.
    func applyBatch(_ request: BindingBatchRequest, from sender: String) throws
        -> BindingBatchReply
    {
        guard request.changes.count <= BindingService.maximumBatchSize else {
            throw ErrorReply(
                message: "binding batch of \(request.changes.count) changes is too large: "
                    + "send at most \(BindingService.maximumBatchSize) per request")
        }
        for change in request.changes { try checkWritable(change.source) }
        let outcomes = try store.apply(
            request.changes.map { ($0.prefix, $0.source, $0.sgt) })
        var published: [CloneChange<SGTBinding>] = []
        var applied = 0
        for (change, changedRow) in zip(request.changes, outcomes) where changedRow {
            applied += 1
            let effective: EffectiveBindingChange?
            if let sgt = change.sgt {
                effective = table.add(
                    SGTBinding(prefix: change.prefix, sgt: sgt, source: change.source))
            } else {
                effective = table.remove(prefix: change.prefix, source: change.source)
            }
            if let effective {
                published.append(
                    CloneChange(key: effective.prefix.description, item: effective.binding))
            }
        }
        clone.apply(published)
        let missing = request.changes.count - applied
        logger.debug(
            "TAG",
            "batch of \(request.changes.count) binding changes from \(sender): \(applied) applied, "
                + "\(missing) deletes of absent bindings, \(published.count) effective changes")
        return BindingBatchReply(applied: applied, missing: missing)
    }
}
