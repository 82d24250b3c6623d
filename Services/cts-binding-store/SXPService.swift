// SXP in cts-binding-store: the `cts sxp` connections of the configuration,
// run by an SXPEndpoint on the service's event loop. Bindings learned from
// listeners' peers go to the store with source SXP. Speaker connections
// announce the effective bindings, except those learned from the same peer.
//
// The store keeps one SXP binding per prefix. When several peers bind the
// same prefix, the first learner's binding is stored, and another peer's
// takes its place when the first withdraws it.

import TaglineBus
import TaglineConfig
import TaglineCore
import TaglineSXP
import TaglineStore

final class SXPService {
    private let configuration: SXPConfiguration
    private let bindings: BindingService
    private let logger: Logger
    private var endpoint: SXPEndpoint?
    /// Bindings learned, by prefix and then by peer.
    private var learned: [IPPrefix: [IPAddress: SXPBinding]] = [:]
    /// The peer whose binding the store holds for each SXP prefix.
    private var storedFrom: [IPPrefix: IPAddress] = [:]
    /// SXP bindings found in the store at start, removed after delete-hold-down
    /// unless a peer announces them again.
    private var orphaned: Set<IPPrefix> = []

    /// Reads the `cts sxp` lines of the configuration file.
    static func loadConfiguration(path: String) throws -> SXPConfiguration {
        try ConfigLoader.load(path: path).config.sxp
    }

    init(
        configuration: SXPConfiguration, bindings: BindingService, bus: ServiceBus,
        loop: EventLoop, port: UInt16
    ) throws {
        self.configuration = configuration
        self.bindings = bindings
        self.logger = bus.logger
        bus.handle(MessageType.sxpConnections) { [unowned self] (_: EmptyRequest, _) in
            status()
        }
        guard configuration.enabled else { return }

        let endpoint = try SXPEndpoint(
            peers: configuration.connections.map { peerConfig($0, port: port) },
            listenAddress: listenAddress,
            port: port, retryPeriod: Double(max(configuration.retryPeriod, 1)), logger: logger)
        self.endpoint = endpoint
        endpoint.onDescriptorAdded = { [unowned self, unowned loop] fd in
            loop.addFileDescriptor(fd) { [unowned self] in
                self.endpoint?.readable(fd, now: Self.now())
            }
        }
        endpoint.onDescriptorRemoved = { [unowned loop] fd in loop.removeFileDescriptor(fd) }
        endpoint.onLearn = { [unowned self] peer, learned in learn(learned, from: peer) }
        endpoint.onForget = { [unowned self] peer, prefixes in forget(prefixes, from: peer) }
        endpoint.bindingsToAnnounce = { [unowned self] peer in announced(to: peer) }
        bindings.onEffectiveChange = { [unowned self] change in announce(change) }

        orphaned = Set(bindings.bindings.all.filter { $0.source == .sxp }.map(\.prefix))
        if !orphaned.isEmpty {
            _ = loop.addOneShot(after: Double(configuration.deleteHoldDownPeriod)) {
                [unowned self] in removeOrphans()
            }
        }
        _ = loop.addTimer(every: 0.1) { [unowned self] in
            self.endpoint?.tick(now: Self.now())
        }
        endpoint.start(now: Self.now())
        logger.notice(
            "SXP",
            "listening on \(listenAddress) port \(endpoint.listenerPort), "
                + "\(configuration.connections.count) connections configured")
    }

    static func now() -> Double { Double(monotonicNanoseconds()) / 1e9 }

    private var listenAddress: IPAddress { configuration.defaultSourceIP ?? .v4(0) }

    /// The node ID: `cts sxp node-id`, else the default source address, else
    /// the first IPv4 source address of a connection.
    private var nodeID: UInt32 {
        let candidates =
            [configuration.nodeID, configuration.defaultSourceIP]
            + configuration.connections.map(\.source)
        for case .v4(let value)? in candidates { return value }
        // NOTE: with no IPv4 address configured the node ID is 0, which loop detection cannot match.
        return 0
    }

    /// Builds the endpoint's settings of one connection; `port` is the peer's TCP port.
    private func peerConfig(_ connection: SXPConnectionConfig, port: UInt16) -> SXPPeerConfig {
        let mode: SXPMode = connection.localIsSpeaker ? .speaker : .listener
        var holdTime: SXPHoldTime?
        if let minimum = connection.holdTimeMinimum {
            let maximum = connection.holdTimeMaximum.map { UInt16($0) }
            holdTime = SXPHoldTime(
                minimum: UInt16(minimum),
                maximum: mode == .listener ? maximum ?? UInt16(minimum) : nil)
        }
        let settings = SXPPeerSettings(
            mode: mode, nodeID: nodeID, holdTime: holdTime,
            deleteHoldDown: Double(configuration.deleteHoldDownPeriod),
            reconciliation: Double(configuration.reconciliationPeriod))
        let key = configuration.password(for: connection).map { Array($0.utf8) }
        return SXPPeerConfig(
            address: connection.peer, source: connection.source ?? configuration.defaultSourceIP,
            key: key, keyIsDefault: connection.password == .useDefault, port: port,
            settings: settings)
    }

    // MARK: - Learned bindings

    private func learn(_ learnedBindings: [SXPBinding], from peer: IPAddress) {
        for binding in learnedBindings {
            learned[binding.prefix, default: [:]][peer] = binding
            orphaned.remove(binding.prefix)
            if let holder = storedFrom[binding.prefix], holder != peer { continue }
            storedFrom[binding.prefix] = peer
            store(binding, from: peer)
        }
    }

    private func forget(_ prefixes: [IPPrefix], from peer: IPAddress) {
        for prefix in prefixes {
            learned[prefix]?[peer] = nil
            if learned[prefix]?.isEmpty == true { learned[prefix] = nil }
            guard storedFrom[prefix] == peer else { continue }
            if let (other, binding) = learned[prefix]?.first {
                storedFrom[prefix] = other
                store(binding, from: other)
            } else {
                storedFrom[prefix] = nil
                remove(prefix, reason: "withdrawn by SXP \(peer)")
            }
        }
    }

    private func store(_ binding: SXPBinding, from peer: IPAddress) {
        // Committed with the other changes of this loop turn, in one transaction.
        bindings.submit(
            [BindingChangeRequest(prefix: binding.prefix, sgt: binding.sgt, source: .sxp)],
            from: "SXP \(peer)")
    }

    private func remove(_ prefix: IPPrefix, reason: String) {
        bindings.submit(
            [BindingChangeRequest(prefix: prefix, sgt: nil, source: .sxp)], from: reason)
    }

    private func removeOrphans() {
        for prefix in orphaned where storedFrom[prefix] == nil {
            remove(prefix, reason: "SXP binding from before the restart not announced again")
        }
        orphaned.removeAll()
    }

    // MARK: - Announcements

    /// Returns the effective bindings to announce to `peer`: all but the SXP
    /// bindings learned from `peer` itself.
    private func announced(to peer: IPAddress) -> [SXPBinding] {
        bindings.bindings.effective.compactMap { binding in
            guard binding.source == .sxp else {
                return SXPBinding(prefix: binding.prefix, sgt: binding.sgt)
            }
            guard let holder = storedFrom[binding.prefix], holder != peer else { return nil }
            let sequence = learned[binding.prefix]?[holder]?.peerSequence ?? []
            return SXPBinding(prefix: binding.prefix, sgt: binding.sgt, peerSequence: sequence)
        }
    }

    private func announce(_ change: EffectiveBindingChange) {
        guard let endpoint else { return }
        guard let binding = change.binding else {
            endpoint.announce(adding: [], removing: [change.prefix], except: nil, now: Self.now())
            return
        }
        var origin: IPAddress?
        var sequence: [UInt32] = []
        if binding.source == .sxp, let holder = storedFrom[binding.prefix] {
            origin = holder
            sequence = learned[binding.prefix]?[holder]?.peerSequence ?? []
        }
        endpoint.announce(
            adding: [SXPBinding(prefix: binding.prefix, sgt: binding.sgt, peerSequence: sequence)],
            removing: [], except: origin, now: Self.now())
    }

    // MARK: - Status

    private func status() -> SXPConnectionsReply {
        SXPConnectionsReply(
            enabled: configuration.enabled, highestVersion: Int(SXPVersion.highest.rawValue),
            defaultPasswordSet: configuration.defaultPassword != nil,
            defaultSourceIP: configuration.defaultSourceIP.map { "\($0)" },
            retryPeriod: configuration.retryPeriod,
            reconciliationPeriod: configuration.reconciliationPeriod,
            connections: endpoint?.statuses(now: Self.now()) ?? [])
    }
}
