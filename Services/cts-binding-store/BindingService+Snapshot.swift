// The packed clone snapshot: every effective binding in one compact record
// string, which a dataplane with a million bindings decodes in a fraction
// of the JSON snapshot's time.

import TaglineBus
import TaglineCore

extension BindingService {
    func registerPackedSnapshot() {
        bus.handle(MessageType.bindingSnapshotPacked) { [unowned self] (_: EmptyRequest, _) in
            PackedBindingSnapshot(
                epoch: clone.epoch, sequence: clone.sequence, bindings: Array(clone.items.values))
        }
    }
}
