// Timers, file descriptors, signals and the runtime directory checks.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class EventLoopTests: XCTestCase {
    func testTimersFireAndCancel() {
        let loop = EventLoop(handlesSignals: false)
        var ticks = 0
        var once = 0
        let timer = loop.addTimer(every: 0.01) { ticks += 1 }
        loop.addOneShot(after: 0.02) { once += 1 }
        let cancelled = loop.addOneShot(after: 0.01) { XCTFail("cancelled timer fired") }
        loop.cancelTimer(cancelled)
        XCTAssertTrue(spin(loop) { ticks >= 5 })
        loop.cancelTimer(timer)
        let frozen = ticks
        spin(loop, timeout: 0.05) { false }
        XCTAssertEqual(ticks, frozen)
        XCTAssertEqual(once, 1)
    }

    func testFileDescriptorReadable() {
        let loop = EventLoop(handlesSignals: false)
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        var received: [UInt8] = []
        loop.addFileDescriptor(fds[0]) {
            var byte: UInt8 = 0
            if read(fds[0], &byte, 1) == 1 { received.append(byte) }
        }
        var value: UInt8 = 42
        _ = write(fds[1], &value, 1)
        XCTAssertTrue(spin(loop) { received == [42] })
        loop.removeFileDescriptor(fds[0])
        _ = write(fds[1], &value, 1)
        spin(loop, timeout: 0.05) { false }
        XCTAssertEqual(received, [42])
    }

    func testStopFromAnotherThread() {
        let loop = EventLoop(handlesSignals: false)
        let background = BackgroundLoop(loop)
        let started = Date()
        background.stop()
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }

    func testSignalHandlersRunOnLoop() {
        let loop = EventLoop(handlesSignals: true)
        var hangups = 0
        loop.onSignal(SIGHUP) { hangups += 1 }
        SignalPipe.install(SIGTERM)
        defer {
            // Give SIGTERM and SIGHUP back their default action for the test process.
            signal(SIGTERM, SIG_DFL)
            signal(SIGHUP, SIG_DFL)
            SignalPipe.installed.remove(SIGTERM)
            SignalPipe.installed.remove(SIGHUP)
        }
        kill(getpid(), SIGHUP)
        XCTAssertTrue(spin(loop) { hangups == 1 })

        kill(getpid(), SIGTERM)
        let stopped = expectation(description: "run returns")
        Thread {
            loop.run()
            stopped.fulfill()
        }.start()
        wait(for: [stopped], timeout: 2)
        XCTAssertEqual(loop.stoppedBySignal, SIGTERM)
    }

    func testRunDirectoryChecks() throws {
        let parent = makeRunDirectory()
        defer { removeDirectory(parent) }
        let directory = parent + "/run"
        let paths = BusPaths(runDirectory: directory + "/")
        XCTAssertEqual(paths.router(.saManager), "ipc://\(directory)/sa-manager.router")
        XCTAssertEqual(paths.publisher(.dataplane), "ipc://\(directory)/dataplane-tagger.pub")
        XCTAssertEqual(paths.trace(.ikeNegotiator), "ipc://\(directory)/ike-negotiator.trace")

        try paths.prepareRunDirectory()
        var info = stat()
        XCTAssertEqual(stat(directory, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)

        chmod(directory, 0o755)
        XCTAssertThrowsError(try paths.prepareRunDirectory()) {
            XCTAssertTrue("\($0)".contains("mode 755"), "\($0)")
        }
        chmod(directory, 0o700)

        let longPath = "/tmp/" + String(repeating: "x", count: 100)
        XCTAssertThrowsError(try BusPaths(runDirectory: longPath).prepareRunDirectory())
    }

    func testSecondInstanceRejected() throws {
        let directory = makeRunDirectory()
        defer { removeDirectory(directory) }
        let loop = EventLoop(handlesSignals: false)
        let first = try ServiceBus(
            service: .saManager, runDirectory: directory, loop: loop,
            logger: quietLogger("sa-manager"))
        XCTAssertThrowsError(
            try ServiceBus(
                service: .saManager, runDirectory: directory, loop: loop,
                logger: quietLogger("sa-manager"))
        ) {
            guard case BusError.alreadyRunning(let service, _) = $0 else {
                return XCTFail("expected alreadyRunning, got \($0)")
            }
            XCTAssertEqual(service, "sa-manager")
        }
        first.shutdown()
        let second = try ServiceBus(
            service: .saManager, runDirectory: directory, loop: loop,
            logger: quietLogger("sa-manager"))
        second.shutdown()
    }

    func testEnvelopeFramesRoundTrip() throws {
        let envelope = Envelope(
            type: "sa.seq.lease", messageID: "0123456789abcdef",
            traceID: "fedcba9876543210", parentID: "", sender: "tagline",
            timestampNanos: 1_700_000_000_123_456_789, body: Array("{}".utf8))
        let frames = envelope.frames
        XCTAssertEqual(frames.count, 7)
        XCTAssertEqual(frames[5], Array("1700000000123456789".utf8))
        let parsed = try Envelope(frames: frames)
        XCTAssertEqual(parsed.type, "sa.seq.lease")
        XCTAssertEqual(parsed.messageID, "0123456789abcdef")
        XCTAssertEqual(parsed.traceID, "fedcba9876543210")
        XCTAssertEqual(parsed.parentID, "")
        XCTAssertEqual(parsed.sender, "tagline")
        XCTAssertEqual(parsed.timestampNanos, 1_700_000_000_123_456_789)

        XCTAssertThrowsError(try Envelope(frames: frames.dropLast()))
        var badStamp = frames
        badStamp[5] = Array("12x".utf8)
        XCTAssertThrowsError(try Envelope(frames: badStamp))
        XCTAssertEqual(Envelope.newID().count, 16)
    }
}
