// Helpers shared by the bus tests: private runtime directories and a way to
// turn an event loop until a condition holds.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

/// Creates a runtime directory of mode 0700 under /tmp, short enough for
/// Unix socket paths. The caller removes it with `removeDirectory`.
func makeRunDirectory() -> String {
    var template = Array("/tmp/tlbus-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let result = mkdtemp(buffer.baseAddress!) else {
            fatalError("mkdtemp failed: \(errno)")
        }
        return String(cString: result)
    }
    return path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Returns a logger that prints errors only, unless TAGLINE_LOG_LEVEL is set.
func quietLogger(_ name: String) -> Logger {
    Logger(service: name, level: getenv("TAGLINE_LOG_LEVEL") == nil ? .error : nil)
}

/// Turns `loop` until `condition` is true or `timeout` seconds pass, and
/// returns whether the condition became true.
@discardableResult
func spin(_ loop: EventLoop, timeout: Double = 5, until condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { return false }
        loop.runOnce(maxWait: 0.02)
    }
    return true
}

/// Runs `loop` on its own thread until the returned stopper is called.
final class BackgroundLoop {
    let loop: EventLoop
    private let done = DispatchSemaphore(value: 0)

    init(_ loop: EventLoop) {
        self.loop = loop
        let thread = Thread { [loop, done] in
            loop.run()
            done.signal()
        }
        thread.start()
    }

    func stop() {
        loop.stop()
        done.wait()
    }
}

struct EchoRequest: Codable, Equatable {
    var text: String
}

struct EchoReply: Codable, Equatable {
    var text: String
    var from: String
}
