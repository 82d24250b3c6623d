// sa-manager: owns the SAD (installed Child SAs, SPIs, sequence-number
// leases and counter totals) and serves it to the dataplane.
//
//   sa-manager --config FILE [--run-dir DIR] [--state-dir DIR]
//
// Everything is kept in STATE_DIR/sad.db and reloaded at start, so a
// restarted sa-manager keeps serving the SAs it had.

import TaglineBus
import TaglineConfig
import TaglineCore
import TaglineStore

#if canImport(Glibc)
    import Glibc
#endif

let serviceName = ServiceName.saManager
let usage = "usage: sa-manager --config FILE [--run-dir DIR] [--state-dir DIR] [--log-level LEVEL]"

func fail(_ message: String) -> Never {
    fputs("sa-manager: \(message)\n", stderr)
    exit(1)
}

let (options, configPath) = ServiceOptions.parseCommandLine(
    program: serviceName.rawValue, usage: usage)
let logger = Logger(service: serviceName.rawValue, level: options.logLevel)

// The configuration is read so a broken file is reported here too; the
// lifetimes sa-manager enforces arrive with each Child SA.
let configurationErrors: Int
do {
    let result = try ConfigLoader.load(path: configPath)
    for diagnostic in result.errors {
        logger.warning("CHILD", "\(configPath) \(diagnostic)")
    }
    configurationErrors = result.errors.count
} catch {
    fail("cannot read configuration \(configPath): \(error)")
}

let loop = EventLoop()
let bus: ServiceBus
let manager: SAManager
do {
    try preparePrivateDirectory(options.stateDirectory, purpose: "state directory")
    let store = try ChildSAStore(path: options.stateDirectory + "/sad.db")
    bus = try ServiceBus(
        service: serviceName, runDirectory: options.runDirectory, loop: loop,
        logger: logger)
    manager = try SAManager(bus: bus, store: store)
} catch {
    fail("cannot start: \(error)")
}

logger.notice("CHILD", "started, pid \(getpid())")
if configurationErrors > 0 {
    let errors =
        configurationErrors == 1
        ? "1 configuration error" : "\(configurationErrors) configuration errors"
    logger.notice(
        "CHILD",
        "running with \(errors) in \(configPath); see tagline config check \(configPath)")
}
loop.run()
logger.notice("CHILD", "stopping (signal \(loop.stoppedBySignal.map(String.init) ?? "none"))")
bus.shutdown()
withExtendedLifetime(manager) {}
