// INTERNAL bindings: each interface address of the configuration bound to the
// gateway's own SGT (`cts sgt N`), rebuilt on every configuration load.

import TaglineConfig
import TaglineCore
import TaglineStore

extension BindingService {
    /// Makes `bindings` the INTERNAL ones, removing those of addresses that
    /// left the configuration, and publishes the effective changes.
    func reloadInternal(_ bindings: [SGTBinding]) throws {
        let result = try store.replace(source: .internal, with: bindings, in: &table)
        for change in result.changes { publish(change) }
        logger.notice(
            "TAG", "\(bindings.count) INTERNAL bindings, \(result.removed) removed")
    }

    /// Registers the `cts.binding.count` handler, which replies with the number
    /// of stored bindings of each source.
    func registerCountHandler() {
        bus.handle(MessageType.bindingCount) { [unowned self] (_: EmptyRequest, _) in
            var bySource: [String: Int] = [:]
            for (source, count) in table.countsBySource { bySource[source.rawValue] = count }
            return BindingCountReply(bySource: bySource, effective: table.count)
        }
    }
}

extension GatewayConfig {
    /// The INTERNAL bindings of this configuration.
    var internalSGTBindings: [SGTBinding] {
        internalBindings.map { SGTBinding(prefix: $0.prefix, sgt: $0.sgt, source: .internal) }
    }
}
