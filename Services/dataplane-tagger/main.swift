// dataplane-tagger: ESP and CMD processing on AF_PACKET rings.
//
//   dataplane-tagger --config FILE [--run-dir DIR] [--inside IF] [--outside IF]
//                    [--workers N] [--cpus LIST] [--idle-us N] [--rx-ring-mib N]
//                    [--log-level LEVEL]
//
// --cpus pins worker i to the i-th CPU of LIST (`0,1` or `0-1`); --workers
// defaults to the number of CPUs listed. --idle-us is how long a worker polls
// empty rings before it sleeps in poll() (0 sleeps at once). --rx-ring-mib is
// the size of each receive ring in MiB (default 16). Every worker has one
// ring on each of the two interfaces.
//
// The outside interface defaults to the configuration's interface with a
// crypto map, the inside interface to another configured interface with an
// address. Must run as root (or with CAP_NET_RAW and CAP_NET_ADMIN) in the
// gateway's network namespace.

import TaglineBus
import TaglineConfig
import TaglineCore
import TaglineDataplane

#if canImport(Glibc)
    import Glibc
#endif

let serviceName = ServiceName.dataplane
let usage = """
    usage: dataplane-tagger --config FILE [--run-dir DIR] [--inside IF] [--outside IF]
                            [--workers N] [--cpus LIST] [--idle-us N] [--rx-ring-mib N]
                            [--log-level LEVEL]
    """

func fail(_ message: String) -> Never {
    fputs("dataplane-tagger: \(message)\n", stderr)
    exit(1)
}

let options: ServiceOptions
do {
    options = try ServiceOptions.parse(
        Array(CommandLine.arguments.dropFirst()),
        valueOptions: [
            "--inside", "--outside", "--workers", "--cpus", "--idle-us", "--rx-ring-mib",
        ])
} catch let error as ServiceOptionsError {
    if error.message.isEmpty {
        print(usage)
        exit(0)
    }
    fail("\(error.message)\n\(usage)")
} catch {
    fail("\(error)\n\(usage)")
}
guard let configPath = options.configPath else { fail("--config FILE is required\n\(usage)") }
let logger = Logger(service: serviceName.rawValue, level: options.logLevel)

// Configuration: interfaces, the CMD Next Header value and the replay window size.
let config: GatewayConfig
do {
    let result = try ConfigLoader.load(path: configPath)
    for diagnostic in result.errors { logger.warning("ESP", "\(configPath) \(diagnostic)") }
    if !result.errors.isEmpty {
        logger.notice(
            "ESP",
            "running with \(result.errors.count) configuration error(s) in \(configPath); "
                + "see tagline config check \(configPath)")
    }
    config = result.config
} catch {
    fail("cannot read configuration \(configPath): \(error)")
}
let configuredOutside =
    config.outsideInterfaces.first { $0.cryptoMapName != nil }
    ?? config.outsideInterfaces.first
guard let outsideName = options.extra["--outside"] ?? configuredOutside?.name else {
    fail("no --outside given and no interface with a crypto map in \(configPath)")
}
let configuredInside = config.interfaceOrder.compactMap { config.interfaces[$0] }.first {
    $0.name != outsideName && !$0.isVirtualTemplate && !$0.shutdown
        && !($0.ipv4Addresses.isEmpty && $0.ipv6Addresses.isEmpty)
}
guard let insideName = options.extra["--inside"] ?? configuredInside?.name else {
    fail("no --inside given and no other interface with an address in \(configPath)")
}
var cpus: [Int] = []
if let text = options.extra["--cpus"] {
    do {
        cpus = try CPUList.parse(text)
    } catch {
        fail("--cpus: \(error); use CPU numbers and ranges such as 0,1 or 0-3")
    }
}
let workerCount = Int(options.extra["--workers"] ?? (cpus.isEmpty ? "1" : String(cpus.count))) ?? 0
guard (1...64).contains(workerCount) else {
    fail("invalid --workers \(options.extra["--workers"] ?? ""); use a number from 1 to 64")
}
guard cpus.isEmpty || cpus.count == workerCount else {
    fail("--cpus lists \(cpus.count) CPUs for \(workerCount) workers; list one CPU per worker")
}
/// Returns the value of the integer option `name`, or `fallback` when it is absent. Exits
/// with an error naming `unit` and the range when the value is not a number in `range`.
func integerOption(
    _ name: String, default fallback: Int, in range: ClosedRange<Int>, unit: String
) -> Int {
    let text = options.extra[name] ?? String(fallback)
    guard let value = Int(text), range.contains(value) else {
        fail("invalid \(name) \(text); use \(unit) from \(range.lowerBound) to \(range.upperBound)")
    }
    return value
}

let idleMicroseconds = integerOption(
    "--idle-us", default: WorkerOptions.defaultIdleMicroseconds,
    in: 0...WorkerOptions.maximumIdleMicroseconds, unit: "microseconds")
let ringMebibytes = integerOption(
    "--rx-ring-mib", default: RXRingConfiguration.defaultMebibytes,
    in: 1...RXRingConfiguration.maximumMebibytes, unit: "a size in MiB")
do {
    try CPUList.checkAllowed(cpus)
} catch {
    fail("invalid --cpus \(options.extra["--cpus"] ?? ""): \(error)")
}
let workerOptions = (0..<workerCount).map { index in
    WorkerOptions(cpu: cpus.isEmpty ? nil : cpus[index], idleMicroseconds: idleMicroseconds)
}

// Keep the kernel's hands off the packets the dataplane owns.
do {
    try KernelPacketGuard.disableForwarding()
    logger.info("ESP", "IPv4 and IPv6 forwarding turned off")
    let blackhole = try KernelPacketGuard.installIPv6Blackhole()
    logger.info("ESP", "ran: \(blackhole)")
    for command in try KernelPacketGuard.installESPDropFilter(interface: outsideName) {
        logger.info("ESP", "ran: \(command)")
    }
} catch {
    fail("cannot keep the kernel from handling ESP on \(outsideName): \(error)")
}
/// The transit drop filter on the inside interface, installed or tried again each second.
var transitFilter: TransitDropFilter?
func removeFilter() {
    do {
        for command in try KernelPacketGuard.removeFilters(interface: outsideName) {
            logger.info("ESP", "ran: \(command)")
        }
    } catch {
        logger.warning("ESP", "removing the ESP filter from \(outsideName) failed: \(error)")
    }
    guard let transitFilter else { return }
    do {
        for command in try KernelPacketGuard.removeFilters(interface: transitFilter.interface) {
            logger.info("ESP", "ran: \(command)")
        }
    } catch {
        logger.warning(
            "ESP", "removing the transit filter from \(transitFilter.interface) failed: \(error)")
    }
}

// Rings, workers and the bus.
let controller: DataplaneController
do {
    controller = try DataplaneController(
        insideName: insideName, outsideName: outsideName, workerCount: workerCount,
        cmdNextHeader: config.cmdNextHeader, replayWindowSize: config.replayWindowSize,
        rxConfiguration: RXRingConfiguration(mebibytes: ringMebibytes),
        workerOptions: workerOptions)
} catch {
    removeFilter()
    fail("cannot open the packet rings on \(insideName) and \(outsideName): \(error)")
}
// The kernel's copy of each transit packet on the inside: dropped at tc ingress rather
// than routed and dropped. Without the filter the gateway works the same, a little slower.
// A failed install is tried again with each kernel read: a program it left behind would
// otherwise stay, dropping packets to the local addresses added later.
let insideFilter = TransitDropFilter(interface: insideName)
transitFilter = insideFilter
do {
    for command in try insideFilter.install(localPrefixes: controller.localPrefixes) {
        logger.info("ESP", "ran: \(command)")
    }
} catch {
    logger.warning(
        "ESP",
        "installing the transit filter on \(insideName) failed and is tried again each second. "
            + "Until then the kernel routes and drops each transit packet itself: \(error)")
}
let fragmentation = config.ipsecFragmentation(onInterface: outsideName)
controller.context.fragmentation.afterEncryption = fragmentation == .afterEncryption
logger.info(
    "ESP",
    "inside \(insideName) (\(controller.inside.mac), MTU \(controller.inside.mtu)), "
        + "outside \(outsideName) (\(controller.outside.mac), MTU \(controller.outside.mtu)), "
        + "\(workerCount) workers"
        + (cpus.isEmpty ? "" : " on CPUs \(cpus.map(String.init).joined(separator: ","))")
        + ", idle after \(idleMicroseconds) us, RX rings of \(ringMebibytes) MiB"
        + ", CMD Next Header \(config.cmdNextHeader), "
        + "replay window \(config.replayWindowSize) packets, "
        + "fragmentation \(fragmentation.rawValue)")

let loop = EventLoop()
let bus: ServiceBus
do {
    bus = try ServiceBus(
        service: serviceName, runDirectory: options.runDirectory, loop: loop,
        logger: logger)
} catch {
    removeFilter()
    fail("cannot start the bus in \(options.runDirectory): \(error)")
}
let service = DataplaneService(
    controller: controller, bus: bus, loop: loop, logger: logger, transitFilter: transitFilter)
service.start()
do {
    try controller.startWorkers()
} catch {
    removeFilter()
    fail("cannot start the workers: \(error)")
}
logger.notice("ESP", "dataplane started")

loop.run()

logger.notice("ESP", "stopping")
controller.stopWorkers()
bus.shutdown()
removeFilter()
logger.notice("ESP", "dataplane stopped")
