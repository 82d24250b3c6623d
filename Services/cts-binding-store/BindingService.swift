// The state of cts-binding-store: every binding with its source, persisted
// in SQLite, and the effective bindings served as a clone table. Each change
// is committed before the reply, so an acknowledged binding survives SIGKILL.
// Changes of one loop turn share one transaction (see BindingService+Batch).

import TaglineBus
import TaglineConfig
import TaglineCore
import TaglineStore

final class BindingService {
    let bus: ServiceBus
    let store: BindingStore
    let logger: Logger
    var table: BindingTable
    let clone: CloneServer<SGTBinding>
    /// Add, delete and batch requests of this loop turn, committed together.
    let pending = PendingCommit()
    /// Called after each change of an effective binding, for SXP speakers.
    var onEffectiveChange: (EffectiveBindingChange) -> Void = { _ in }
    /// Every stored binding, and the effective ones.
    var bindings: (all: [SGTBinding], effective: [SGTBinding]) { (table.all, table.effective) }

    /// Loads the stored bindings, replaces the configuration's with
    /// `configured`, and starts serving.
    init(bus: ServiceBus, store: BindingStore, configured: [SGTBinding]) throws {
        self.bus = bus
        self.store = store
        self.logger = bus.logger
        let loadStart = monotonicNanoseconds()
        try store.replaceAll(source: .config, with: configured)
        // TODO: stream rows without per-row arrays; a million take 2.5 s to read and parse.
        let rows = try store.loadAll()
        let rowsLoaded = monotonicNanoseconds()
        table = BindingTable(rows)
        let tableBuilt = monotonicNanoseconds()
        var items = [String: SGTBinding](minimumCapacity: table.count)
        table.forEachEffective { items[$0.prefix.description] = $0 }
        clone = bus.cloneServer(
            updateType: MessageType.bindingUpdate, snapshotType: MessageType.bindingSnapshot,
            initialItems: items)
        logger.notice(
            "TAG",
            "loaded \(table.storedCount) bindings, \(table.count) effective "
                + "(\(configured.count) from the configuration) in "
                + "\((monotonicNanoseconds() - loadStart) / 1_000_000) ms (SQLite "
                + "\((rowsLoaded - loadStart) / 1_000_000) ms, table "
                + "\((tableBuilt - rowsLoaded) / 1_000_000) ms)")
        registerHandlers()
    }

    private func registerHandlers() {
        registerChangeHandlers()
        registerPackedSnapshot()
        bus.handle(MessageType.bindingLookup) { [unowned self] (request: BindingLookupRequest, _) in
            BindingLookupReply(binding: table.lookup(request.address))
        }
        bus.handle(MessageType.bindingList) { [unowned self] (_: EmptyRequest, _) in
            BindingListReply(bindings: table.all, effective: table.effective)
        }
    }

    /// Sources that bus clients may change. CLI bindings come from the
    /// configuration file and INTERNAL ones from the gateway itself.
    private static let writableSources: Set<BindingSource> = [.api, .sxp]

    func checkWritable(_ source: BindingSource) throws {
        guard BindingService.writableSources.contains(source) else {
            throw ErrorReply(
                message: "bindings of source \(source.rawValue) cannot be changed at run time; "
                    + "use source API (CLI bindings come from the configuration file)")
        }
    }

    /// Replaces the configuration's bindings after a reload, publishing only
    /// the effective changes.
    func reloadConfigured(_ configured: [SGTBinding]) throws {
        try store.replaceAll(source: .config, with: configured)
        let configuredByPrefix = Dictionary(
            configured.map { ($0.prefix, $0) }, uniquingKeysWith: { $1 })
        let current = table.all.filter { $0.source == .config }
        var removed = 0
        for binding in current where configuredByPrefix[binding.prefix] == nil {
            publish(table.remove(prefix: binding.prefix, source: .config))
            removed += 1
        }
        for binding in configuredByPrefix.values {
            publish(table.add(binding))
        }
        logger.notice(
            "TAG",
            "configuration reloaded: \(configuredByPrefix.count) CLI bindings, \(removed) removed")
    }

    func publish(_ change: EffectiveBindingChange?) {
        guard let change else { return }
        onEffectiveChange(change)
        let key = change.prefix.description
        if let binding = change.binding {
            clone.set(key, binding)
        } else {
            clone.remove(key)
        }
    }
}

extension SGTBinding {
    /// Creates the CLI-source binding of a `cts role-based sgt-map` line.
    init(configured: ConfiguredBinding) {
        self.init(prefix: configured.prefix, sgt: configured.sgt, source: .config)
    }
}
