// tagline-bench pipeline: packets per second of the dataplane's packet path
// on one thread, on memory, against a bare OpenSSL AES-128-GCM loop over the
// same lengths. Outbound covers classify, SPD match, SGT lookup, CMD insert,
// seal and Ethernet/IP framing; inbound covers SA lookup, replay check, open,
// CMD removal, policy check and framing. Frames go through in bursts of 64,
// as a ring worker takes them.

import COpenSSL
import TaglineCore
import TaglineDataplane

#if canImport(Glibc)
    import Glibc
#endif

struct PipelineRateSettings {
    var packets: Int
    var sizes: [Int]
    /// Runs one case alone, for perf stat or callgrind: `bare-seal`, `bare-open`,
    /// `outbound`, `untagged-outbound`, `round-trip` or `untagged-round-trip`.
    var onlyCase: String?
    /// perf stat control and acknowledgement FIFOs, to count only the measured loop.
    var perfControl: (control: String, ack: String)?
    /// Packets run before the timed ones; nil runs a tenth of `packets`.
    var warmup: Int?
    /// Rounds of every case; the best rate of each case is reported.
    var rounds: Int
    var json: Bool
}

/// Lab addresses of the two memory gateways: host A 192.0.2.2 behind gw1, host B
/// 203.0.113.2 behind gw2, the gateways 198.51.100.1 and .2 on the outside.
enum BenchLab {
    static let burst = 64
    static let hostA = IPAddress("192.0.2.2")!
    static let hostB = IPAddress("203.0.113.2")!
    static let gw1 = IPAddress("198.51.100.1")!
    static let gw2 = IPAddress("198.51.100.2")!
    static let hostAMAC = MACAddress(0x0200_0000_0a02)
    static let gw1InsideMAC = MACAddress(0x0200_0000_0a01)
    static let gw1OutsideMAC = MACAddress(0x0200_0000_1001)
    static let gw2OutsideMAC = MACAddress(0x0200_0000_1002)
    static let gw2InsideMAC = MACAddress(0x0200_0000_0b01)
    static let hostBMAC = MACAddress(0x0200_0000_0b02)
    /// AES-128 key followed by the 4-byte salt, one set per direction.
    static let keyGW1ToGW2 = (0..<20).map { UInt8(0x10 + $0) }
    static let keyGW2ToGW1 = (0..<20).map { UInt8(0x70 + $0) }
    static let spiAtGW1: UInt32 = 0x1000_0001
    static let spiAtGW2: UInt32 = 0x2000_0002

    static func childSA(gw1 isGW1: Bool, tagging: Bool) -> ChildSA {
        let sideA = [TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!)]
        let sideB = [TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!)]
        let forward = ChildSAKeys(encryptionKey: keyGW1ToGW2, integrityKey: [])
        let backward = ChildSAKeys(encryptionKey: keyGW2ToGW1, integrityKey: [])
        return ChildSA(
            inboundSPI: isGW1 ? spiAtGW1 : spiAtGW2, outboundSPI: isGW1 ? spiAtGW2 : spiAtGW1,
            ikeSAName: "0102030405060708-1112131415161718",
            localAddress: isGW1 ? gw1 : gw2, remoteAddress: isGW1 ? gw2 : gw1,
            udpEncapsulation: nil,
            localSelectors: isGW1 ? sideA : sideB, remoteSelectors: isGW1 ? sideB : sideA,
            encryption: .aesGCM128, integrity: nil,
            inboundKeys: isGW1 ? backward : forward, outboundKeys: isGW1 ? forward : backward,
            taggingNegotiated: tagging, cryptoMapName: "bench", interfaceName: "outside",
            transformDescription: "esp-gcm 128", installedAt: 0)
    }

    static func gateway(gw1 isGW1: Bool, tagging: Bool) throws -> MemoryPipeline {
        let inside = DataplaneInterface(
            name: "inside", index: 1, mac: isGW1 ? gw1InsideMAC : gw2InsideMAC, mtu: 1500,
            addresses: [IPAddress(isGW1 ? "192.0.2.1" : "203.0.113.1")!])
        let outside = DataplaneInterface(
            name: "outside", index: 2, mac: isGW1 ? gw1OutsideMAC : gw2OutsideMAC, mtu: 1500,
            addresses: [isGW1 ? gw1 : gw2])
        let neighbours: [NeighbourKey: MACAddress] = [
            NeighbourKey(interfaceIndex: 1, address: isGW1 ? hostA : hostB):
                isGW1 ? hostAMAC : hostBMAC,
            NeighbourKey(interfaceIndex: 2, address: isGW1 ? gw2 : gw1):
                isGW1 ? gw2OutsideMAC : gw1OutsideMAC,
        ]
        let forwarding = ForwardingTable.directlyConnected(
            inside: inside, insidePrefixes: [IPPrefix(isGW1 ? "192.0.2.0/24" : "203.0.113.0/24")!],
            outside: outside, outsidePrefixes: [IPPrefix("198.51.100.0/24")!],
            neighbours: neighbours)
        let bindings = [
            SGTBinding(prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(333)!, source: .config)
        ]
        return try MemoryPipeline(
            sa: childSA(gw1: isGW1, tagging: tagging), bindings: bindings,
            forwarding: forwarding, slotCount: burst)
    }

    /// Returns an Ethernet frame from host A to host B carrying an IPv4 UDP packet of `size`
    /// bytes.
    static func frame(innerSize size: Int) -> [UInt8] {
        var packet = [UInt8](repeating: 0x5A, count: size)
        let header: [UInt8] =
            [0x45, 0, UInt8(size >> 8), UInt8(size & 0xFF), 0x12, 0x34, 0x40, 0, 64, 17, 0, 0]
            + hostA.bytes + hostB.bytes
            + [0x30, 0x39, 0x00, 0x35, UInt8((size - 20) >> 8), UInt8((size - 20) & 0xFF), 0, 0]
        packet.replaceSubrange(0..<header.count, with: header)
        var sum: UInt32 = 0
        for index in stride(from: 0, to: 20, by: 2) {
            sum += UInt32(packet[index]) << 8 | UInt32(packet[index + 1])
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        packet[10] = UInt8(~sum >> 8 & 0xFF)
        packet[11] = UInt8(~sum & 0xFF)
        return gw1InsideMAC.bytes + hostAMAC.bytes + [0x08, 0x00] + packet
    }

    /// Bytes that AES-GCM encrypts for an inner packet of `size`: CMD (when tagged), the
    /// packet, padding to 4 bytes and the 2-byte trailer.
    static func sealedLength(innerSize size: Int, tagged: Bool) -> Int {
        let payload = size + (tagged ? 8 : 0) + 2
        return (payload + 3) / 4 * 4
    }
}

/// A failed check of the benchmark itself: a packet the pipeline did not forward.
struct PipelineRateFailure: Error, CustomStringConvertible {
    var description: String
}

/// Tells perf stat to start or stop counting, through its control FIFO, and waits for the ack.
final class PerfControl {
    private let control: Int32
    private let ack: Int32

    init?(_ paths: (control: String, ack: String)?) {
        guard let paths else { return nil }
        control = open(paths.control, O_WRONLY)
        ack = open(paths.ack, O_RDONLY)
        guard control >= 0, ack >= 0 else { return nil }
    }

    func send(_ command: String) {
        let line = command + "\n"
        _ = line.withCString { write(control, $0, strlen($0)) }
        var reply = [UInt8](repeating: 0, count: 16)
        _ = reply.withUnsafeMutableBytes { read(ack, $0.baseAddress, $0.count) }
    }
}

/// Nanoseconds of `body`, counted by perf stat too when a control FIFO is given.
@inline(never)
func measuredLoop(_ perf: PerfControl?, _ body: () throws -> UInt64) rethrows -> UInt64 {
    perf?.send("enable")
    defer { perf?.send("disable") }
    return try body()
}

/// Runs the cases and prints one outbound and one inbound line per inner packet size.
struct PipelineRateBenchmark {
    let settings: PipelineRateSettings

    init(_ settings: PipelineRateSettings) { self.settings = settings }

    func run() throws {
        let perf = PerfControl(settings.perfControl)
        if settings.perfControl != nil && perf == nil {
            let paths = settings.perfControl!
            throw PipelineRateFailure(
                description: "failed to open the perf control FIFOs \(paths.control) and "
                    + "\(paths.ack); create them with mkfifo and start perf stat --control")
        }
        if let name = settings.onlyCase {
            guard let only = PipelineCase(rawValue: name) else {
                throw PipelineRateFailure(
                    description: "unknown case \(name); expected one of "
                        + PipelineCase.allCases.map(\.rawValue).joined(separator: ", "))
            }
            for size in settings.sizes {
                let nanoseconds = try only.run(
                    size: size, packets: settings.packets, warmup: settings.warmup, perf: perf)
                print(
                    "case \(only.rawValue) size \(size) packets \(settings.packets) "
                        + "ns \(nanoseconds)")
            }
            return
        }
        if !settings.json {
            print(
                "pipeline on memory: one thread, AES-128-GCM, bursts of \(BenchLab.burst), "
                    + "\(settings.packets) packets per case, best of \(settings.rounds) rounds; the bare loop seals or opens the "
                    + "tagged length; ratio = bare rate / pipeline rate (goal <= 1.3)")
        }
        for size in settings.sizes {
            // Rounds alternate the cases, and the best round of each counts, so that load
            // from other processes weighs less on one case than on another.
            var rates: [PipelineCase: Double] = [:]
            for _ in 0..<settings.rounds {
                for item in PipelineCase.allCases {
                    let nanoseconds = try item.run(
                        size: size, packets: settings.packets, warmup: settings.warmup, perf: nil)
                    let rate = Double(settings.packets) / (Double(max(nanoseconds, 1)) / 1e9)
                    rates[item] = max(rates[item] ?? 0, rate)
                }
            }
            report(size: size, rates: rates)
        }
    }

    private func report(size: Int, rates: [PipelineCase: Double]) {
        let bareSeal = rates[.bareSeal]!
        let bareOpen = rates[.bareOpen]!
        if settings.json {
            var fields = ["\"size\": \(size)"]
            for item in PipelineCase.allCases {
                fields.append("\"\(item.rawValue)_pps\": \(Int(rates[item]!))")
            }
            fields.append("\"outbound_ratio\": \(rounded(bareSeal / rates[.outbound]!))")
            fields.append("\"inbound_ratio\": \(rounded(bareOpen / rates[.roundTrip]!))")
            print("{" + fields.joined(separator: ", ") + "}")
            return
        }
        func line(
            _ direction: String, bare: Double, bareName: String, tagged: Double,
            untagged: Double
        ) -> String {
            let cost = (untagged / tagged - 1) * 100
            return pad("inner \(size) B", 14) + pad(direction, 10)
                + "\(bareName) \(mpps(bare))  tagged \(mpps(tagged)) "
                + "(ratio \(rounded(bare / tagged)))  untagged \(mpps(untagged)) "
                + "(ratio \(rounded(bare / untagged)))  tagging costs \(rounded(cost))%"
        }
        print(
            line(
                "outbound", bare: bareSeal, bareName: "bare seal", tagged: rates[.outbound]!,
                untagged: rates[.untaggedOutbound]!))
        print(
            line(
                "inbound", bare: bareOpen, bareName: "bare open", tagged: rates[.roundTrip]!,
                untagged: rates[.untaggedRoundTrip]!))
    }

    private func mpps(_ rate: Double) -> String { "\(rounded(rate / 1e6)) Mpps" }

    private func rounded(_ value: Double) -> String {
        let hundredths = (value * 100).rounded()
        guard hundredths.isFinite, abs(hundredths) < 1e15 else { return "\(value)" }
        let whole = Int(hundredths)
        let fraction = abs(whole % 100)
        let sign = whole < 0 && whole > -100 ? "-" : ""
        return "\(sign)\(whole / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
