// ike-negotiator: owns the IKE SAs and the IKEv2 state machines, speaks IKE
// on UDP 500 and 4500, and hands the Child SAs it negotiates to sa-manager.
//
//   ike-negotiator --config FILE --run-dir DIR [--state-dir DIR] [--log-level LEVEL]
//                  [--max-half-open N] [--cookie-threshold N]
//
// --max-half-open sets how many responder IKE SAs may wait for IKE_AUTH at
// once (default 1000); IKE_SA_INIT requests beyond it are dropped.
// --cookie-threshold sets how many half-open SAs make the responder demand
// a COOKIE (default 50), unless the configuration has `crypto ikev2
// cookie-challenge`. A value of at least --max-half-open turns COOKIEs off.
//
// Established IKE SAs are kept in STATE_DIR/ike.db, so a restarted negotiator
// keeps serving its peers on them. SIGHUP reloads the configuration.

import TaglineBus
import TaglineConfig
import TaglineCore
import TaglineIKE

#if canImport(Glibc)
    import Glibc
#endif

let serviceName = ServiceName.ikeNegotiator
let usage =
    "usage: ike-negotiator --config FILE --run-dir DIR [--state-dir DIR] [--log-level LEVEL]\n"
    + "                      [--max-half-open N] [--cookie-threshold N]"

func fail(_ message: String) -> Never {
    fputs("ike-negotiator: \(message)\n", stderr)
    exit(1)
}

let (options, configPath) = ServiceOptions.parseCommandLine(
    program: serviceName.rawValue, usage: usage, valueOptions: ["--max-half-open", "--cookie-threshold"])
let logger = Logger(service: serviceName.rawValue, level: options.logLevel)

/// Loads the configuration and prints its diagnostics: ignored lines at
/// info, warnings at warning and rejected lines at error level.
func loadConfig() -> GatewayConfig? {
    do {
        let result = try ConfigLoader.load(path: configPath)
        for diagnostic in result.ignored { logger.info("IKE", "\(configPath) \(diagnostic)") }
        for diagnostic in result.warnings { logger.warning("IKE", "\(configPath) \(diagnostic)") }
        for diagnostic in result.errors { logger.error("IKE", "\(configPath) \(diagnostic)") }
        if !result.errors.isEmpty {
            logger.notice(
                "IKE",
                "running with \(result.errors.count) configuration error(s) in \(configPath); "
                    + "see tagline config check \(configPath)")
        }
        return result.config
    } catch {
        logger.error("IKE", "cannot read configuration \(configPath): \(error)")
        return nil
    }
}

guard let config = loadConfig() else { exit(1) }
let loop = EventLoop()
let bus: ServiceBus
let negotiator: Negotiator
do {
    try preparePrivateDirectory(options.stateDirectory, purpose: "state directory")
    let store = try IKEStateStore(path: options.stateDirectory + "/ike.db")
    bus = try ServiceBus(
        service: serviceName, runDirectory: options.runDirectory, loop: loop, logger: logger)
    negotiator = try Negotiator(config: config, logger: logger, loop: loop, bus: bus, store: store)
    if let text = options.extra["--max-half-open"] {
        guard let limit = Int(text), limit >= 1 else {
            fail("invalid --max-half-open \(text): expected a whole number of 1 or more")
        }
        negotiator.engine.maximumHalfOpenSAs = limit
        logger.notice("IKE", "half-open IKE SA limit set to \(limit)")
    }
    if let text = options.extra["--cookie-threshold"] {
        guard let threshold = Int(text), threshold >= 1 else {
            fail("invalid --cookie-threshold \(text): expected a whole number of 1 or more")
        }
        negotiator.engine.cookieThreshold = threshold
        logger.notice("IKE", "COOKIE threshold set to \(threshold) half-open IKE SAs")
    }
} catch {
    fail("cannot start: \(error)")
}

guard negotiator.bindSockets(config: config) > 0 else {
    fail(
        "no UDP socket could be bound; check the addresses of the crypto map and tunnel source "
            + "interfaces")
}
loop.onSignal(SIGHUP) {
    guard let fresh = loadConfig() else { return }
    logger.notice("IKE", "configuration reloaded from \(configPath)")
    negotiator.reload(fresh)
}

logger.notice("IKE", "started, pid \(getpid())")
negotiator.start()
loop.run()
logger.notice("IKE", "stopping (signal \(loop.stoppedBySignal.map(String.init) ?? "none"))")
bus.shutdown()
