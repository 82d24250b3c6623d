// Two engines in one process: a controllable clock, deterministic
// randomness and an in-memory network that can lose or rewrite datagrams.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

/// Deterministic bytes from a SplitMix64 sequence, so each run sends the same nonces and SPIs.
final class SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for shift in stride(from: 0, to: 64, by: 8) where out.count < count {
                out.append(UInt8(truncatingIfNeeded: z >> UInt64(shift)))
            }
        }
        return out
    }
}

/// One gateway: an engine and a record of everything it asked its host to do.
final class Gateway: IKEEngineDelegate {
    let name: String
    let address: IPAddress
    var engine: IKEEngine!
    var outbox: [IKEDatagram] = []
    var installed: [ChildSA] = []
    var deleted: [UInt32] = []
    /// Child SAs that IKE SA rekeys moved, as reported.
    var moved: [ChildSA] = []
    var debugLines: [String] = []
    var logLines: [(level: LogLevel, message: String)] = []
    var changes: [(status: IKESAStatus, up: Bool)] = []
    var nextSPI: UInt32
    var spiAvailable = true

    init(
        name: String, address: String, config: String, clock: @escaping () -> Double,
        seed: UInt64, firstSPI: UInt32
    ) {
        self.name = name
        self.address = IPAddress(address)!
        self.nextSPI = firstSPI
        let loaded = ConfigLoader.parse(text: config)
        let errors = loaded.diagnostics.filter { $0.kind == .error }
        precondition(errors.isEmpty, "test configuration has errors: \(errors)")
        let random = SeededRandom(seed: seed)
        engine = IKEEngine(
            config: loaded.config, clock: clock, random: random.bytes, delegate: self)
    }

    func engine(_ e: IKEEngine, send datagram: IKEDatagram) { outbox.append(datagram) }

    func engineAllocateInboundSPI(_ e: IKEEngine) -> UInt32? {
        guard spiAvailable else { return nil }
        defer { nextSPI += 1 }
        return nextSPI
    }

    func engine(_ e: IKEEngine, install childSA: ChildSA) { installed.append(childSA) }
    func engine(_ e: IKEEngine, moved childSAs: [ChildSA]) { moved += childSAs }
    func engine(_ e: IKEEngine, deleteChildSA inboundSPI: UInt32) { deleted.append(inboundSPI) }
    func engine(_ e: IKEEngine, debug line: String) { debugLines.append(line) }

    func engine(_ e: IKEEngine, log level: LogLevel, _ message: String) {
        logLines.append((level, message))
    }

    func engine(_ e: IKEEngine, ikeSAChanged status: IKESAStatus, up: Bool) {
        changes.append((status, up))
    }

    /// Log lines at warning level or more severe.
    var problems: [String] {
        logLines.filter { $0.level <= .warning }.map(\.message)
    }

    var ready: [IKESAStatus] { engine.ikeSAStatuses().filter { $0.status == "READY" } }
}

/// Two gateways joined by an in-memory network, with a clock both share.
final class Lab {
    var now: Double = 1_000
    var a: Gateway!
    var b: Gateway!
    /// Rewrites or loses (returns nil) each datagram in flight.
    var network: (IKEDatagram) -> IKEDatagram? = { $0 }
    /// Where a datagram goes: by default the gateway that owns the destination address.
    var route: ((IKEDatagram) -> Gateway?)?
    /// Every datagram delivered, as "A->B IKE_AUTH request 1".
    var transcript: [String] = []
    /// Datagrams recorded while `capture()` is in effect.
    var captured: [IKEDatagram] = []

    init(configA: String, configB: String, passiveB: Bool = true) {
        a = Gateway(
            name: "A", address: "198.51.100.1", config: configA, clock: { [unowned self] in now },
            seed: 1, firstSPI: 0xA000_0001)
        b = Gateway(
            name: "B", address: "198.51.100.2", config: configB, clock: { [unowned self] in now },
            seed: 2, firstSPI: 0xB000_0001)
        b.engine.isPassive = passiveB
    }

    /// Delivers queued datagrams until both outboxes are empty.
    func run(maxSteps: Int = 100) {
        for _ in 0..<maxSteps {
            guard let (from, datagram) = takeNext() else { return }
            transcript.append("\(from.name) " + Lab.describe(datagram.bytes))
            guard let moved = network(datagram) else { continue }
            let target = route?(moved) ?? [a, b].first { $0!.address == moved.remote.address }!
            target?.engine.receive(
                IKEDatagram(local: moved.remote, remote: moved.local, bytes: moved.bytes))
        }
        XCTFail("datagrams still flowing after \(maxSteps) steps")
    }

    /// Loses the first `counts[name]` CREATE_CHILD_SA requests that gateway `name` ("A" or
    /// "B") sends. Returns a function that returns how many each gateway has lost so far.
    @discardableResult
    func loseChildRequests(_ counts: [String: Int]) -> () -> [String: Int] {
        var lost: [String: Int] = [:]
        network = { [unowned self] datagram in
            guard let header = try? IKEHeader.decode(datagram.bytes),
                header.exchangeType == .createChildSA, !header.isResponse,
                let sender = [a!, b!].first(where: { $0.address == datagram.local.address }),
                lost[sender.name, default: 0] < counts[sender.name, default: 0]
            else { return datagram }
            lost[sender.name, default: 0] += 1
            return nil
        }
        return { lost }
    }

    /// Moves the clock on and lets both engines run their timers.
    func advance(_ seconds: Double) {
        now += seconds
        a.engine.handleTimers()
        b.engine.handleTimers()
        run()
    }

    private func takeNext() -> (Gateway, IKEDatagram)? {
        for gateway in [a!, b!] where !gateway.outbox.isEmpty {
            return (gateway, gateway.outbox.removeFirst())
        }
        return nil
    }

    static func describe(_ bytes: [UInt8]) -> String {
        guard let header = try? IKEHeader.decode(bytes) else { return "garbage" }
        return "\(header.exchangeType) \(header.isResponse ? "response" : "request") "
            + "\(header.messageID)"
    }
}

/// Configuration text for the two lab gateways.
enum LabConfig {
    struct Options {
        var sgt = true
        var psk = "lab-secret"
        var ikeProposal = "encryption aes-cbc-128\n integrity sha256\n group 19"
        var transformSet = "esp-gcm 128"
        /// Access list lines of the initiator's view: local first.
        var protected = ["192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255"]
        var keyringAddress: String? = nil
        /// `set pfs` of the crypto map entry, such as "group19".
        var pfs: String? = nil
        /// `lifetime` of the IKEv2 profile in seconds.
        var ikeLifetime: Int? = nil
        /// The profile's `dpd` arguments, such as "10 2 periodic"; nil leaves DPD off.
        var dpd: String? = nil
        /// Further transform sets offered after `transformSet`, each as its transform words.
        var extraTransformSets: [String] = []
    }

    /// Gateway A (198.51.100.1, protecting 192.0.2.0/24) or B (198.51.100.2,
    /// protecting 203.0.113.0/24), each peering with the other.
    static func text(gateway: String, _ options: Options = Options()) -> String {
        let isA = gateway == "A"
        let own = isA ? "198.51.100.1" : "198.51.100.2"
        let peer = isA ? "198.51.100.2" : "198.51.100.1"
        let acl = options.protected.map { line -> String in
            let words = line.split(separator: " ")
            let swapped = isA ? line : (words[2...3] + words[0...1]).joined(separator: " ")
            return " permit ip \(swapped)"
        }.joined(separator: "\n")
        let keyring = options.keyringAddress ?? "\(peer) 255.255.255.255"
        let extraSets = options.extraTransformSets.enumerated().map { index, words in
            "crypto ipsec transform-set ts\(index + 2) \(words)\n mode tunnel"
        }.joined(separator: "\n")
        let setNames = (["ts"] + options.extraTransformSets.indices.map { "ts\($0 + 2)" })
            .joined(separator: " ")
        return """
            crypto ikev2 proposal lab
             \(options.ikeProposal)
            crypto ikev2 policy lab
             proposal lab
            crypto ikev2 keyring labkeys
             peer other
              address \(keyring)
              pre-shared-key \(options.psk)
            crypto ikev2 profile lab
             match identity remote address \(peer) 255.255.255.255
             authentication local pre-share
             authentication remote pre-share
             keyring local labkeys
            \(options.ikeLifetime.map { " lifetime \($0)" } ?? "!")
            \(options.dpd.map { " dpd \($0)" } ?? "!")
            \(options.sgt ? "crypto ikev2 cts sgt" : "!")
            crypto ipsec transform-set ts \(options.transformSet)
             mode tunnel
            \(extraSets.isEmpty ? "!" : extraSets)
            ip access-list extended protect
            \(acl)
            crypto map cmap 10 ipsec-isakmp
             set peer \(peer)
             set transform-set \(setNames)
             set ikev2-profile lab
             match address protect
            \(options.pfs.map { " set pfs \($0)" } ?? "!")
            interface out0
             ip address \(own) 255.255.255.0
             crypto map cmap
            """
    }
}
