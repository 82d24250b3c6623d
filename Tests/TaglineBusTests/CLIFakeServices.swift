// Services that return fixed replies, for the `tagline` tests: each test
// registers the handlers it needs, starts the loop, and runs the CLI.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

/// Service buses in a private runtime directory, served by one event loop on
/// a background thread once `start` is called.
final class FakeServices {
    let runDirectory = makeRunDirectory()
    let loop = EventLoop(handlesSignals: false)
    private var buses: [ServiceName: ServiceBus] = [:]
    private var background: BackgroundLoop?

    /// Returns the bus of `service`, creating it on first use. Register
    /// handlers before `start`, because the loop thread reads them.
    func bus(_ service: ServiceName) throws -> ServiceBus {
        if let bus = buses[service] { return bus }
        let bus = try ServiceBus(
            service: service, runDirectory: runDirectory, loop: loop,
            logger: quietLogger(service.rawValue))
        buses[service] = bus
        return bus
    }

    func start() {
        background = BackgroundLoop(loop)
    }

    /// Stops the loop, closes the buses and removes the runtime directory.
    func stop() {
        background?.stop()
        background = nil
        for bus in buses.values { bus.shutdown() }
        buses = [:]
        removeDirectory(runDirectory)
    }

    /// Runs the built `tagline` against these services.
    func tagline(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(try builtExecutable("tagline"), ["--run-dir", runDirectory] + arguments)
    }
}
