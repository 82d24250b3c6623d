// cts-binding-store: owns the IP-prefix to SGT bindings of every source.
//
//   cts-binding-store --config FILE [--run-dir DIR] [--state-dir DIR]
//
// Bindings of `cts role-based sgt-map` lines come from the configuration
// (source CLI) and are reloaded on SIGHUP, as are the INTERNAL bindings of the
// interface addresses to `cts sgt N`; `tagline cts role-based sgt-map
// add` adds source API bindings. All are kept in STATE_DIR/bindings.db.

import TaglineBus
import TaglineConfig
import TaglineCore
import TaglineStore

#if canImport(Glibc)
    import Glibc
#endif

let serviceName = ServiceName.bindingStore
let usage =
    "usage: cts-binding-store --config FILE [--run-dir DIR] [--state-dir DIR] "
    + "[--log-level LEVEL] [--sxp-port PORT]"

func fail(_ message: String) -> Never {
    fputs("cts-binding-store: \(message)\n", stderr)
    exit(1)
}

let (options, configPath) = ServiceOptions.parseCommandLine(
    program: serviceName.rawValue, usage: usage, valueOptions: ["--sxp-port"])
let logger = Logger(service: serviceName.rawValue, level: options.logLevel)

/// Loads the configuration's bindings and logs every error of the file.
/// Returns the CLI bindings, the INTERNAL ones, and the number of errors.
func loadConfiguredBindings() throws -> ([SGTBinding], [SGTBinding], Int) {
    let result = try ConfigLoader.load(path: configPath)
    for diagnostic in result.errors {
        logger.warning("TAG", "\(configPath) \(diagnostic)")
    }
    return (
        result.config.sgtBindings.map(SGTBinding.init(configured:)),
        result.config.internalSGTBindings, result.errors.count
    )
}

/// Logs once at notice level that the service runs with a configuration
/// whose invalid lines were rejected.
func noticeConfigurationErrors(_ count: Int) {
    guard count > 0 else { return }
    let errors = count == 1 ? "1 configuration error" : "\(count) configuration errors"
    logger.notice(
        "TAG", "running with \(errors) in \(configPath); see tagline config check \(configPath)")
}

let configured: [SGTBinding]
let internalBindings: [SGTBinding]
let configurationErrors: Int
do {
    (configured, internalBindings, configurationErrors) = try loadConfiguredBindings()
} catch {
    fail("cannot read configuration \(configPath): \(error)")
}

let loop = EventLoop()
let service: BindingService
let sxp: SXPService
// TCP port of the SXP listener; tests set another with --sxp-port.
guard let sxpPort = UInt16(options.extra["--sxp-port"] ?? "64999") else {
    fail("invalid --sxp-port '\(options.extra["--sxp-port"] ?? "")' (expected 0-65535)")
}
let bus: ServiceBus
do {
    try preparePrivateDirectory(options.stateDirectory, purpose: "state directory")
    let store = try BindingStore(path: options.stateDirectory + "/bindings.db")
    bus = try ServiceBus(
        service: serviceName, runDirectory: options.runDirectory, loop: loop,
        logger: logger)
    service = try BindingService(bus: bus, store: store, configured: configured)
    try service.reloadInternal(internalBindings)
    service.registerCountHandler()
    sxp = try SXPService(
        configuration: SXPService.loadConfiguration(path: configPath), bindings: service,
        bus: bus, loop: loop, port: sxpPort)
} catch {
    fail("cannot start: \(error)")
}

loop.onSignal(SIGHUP) {
    do {
        let (bindings, ownBindings, errors) = try loadConfiguredBindings()
        try service.reloadConfigured(bindings)
        try service.reloadInternal(ownBindings)
        noticeConfigurationErrors(errors)
    } catch {
        logger.error("TAG", "configuration reload from \(configPath) failed: \(error)")
    }
}

logger.notice("TAG", "started, pid \(getpid())")
noticeConfigurationErrors(configurationErrors)
loop.run()
logger.notice("TAG", "stopping (signal \(loop.stoppedBySignal.map(String.init) ?? "none"))")
bus.shutdown()
