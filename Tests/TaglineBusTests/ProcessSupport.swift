// Running the built executables (services and the CLI) from tests.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

/// Returns the path of a built executable: from $TAGLINE_BIN_DIR, or from
/// the directory of the test bundle, where `swift build` puts the products.
/// Fails the test when it has not been built, so a missing binary never passes silently.
func builtExecutable(_ name: String) throws -> String {
    let directory: String
    if let override = ProcessInfo.processInfo.environment["TAGLINE_BIN_DIR"] {
        directory = override
    } else {
        directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }
    let path = directory + "/" + name
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw ProcessSupportError(
            message: "\(path) is not built; run swift build first or set TAGLINE_BIN_DIR")
    }
    return path
}

/// The output and exit status of a finished process.
struct ProcessResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// Runs `path` with `arguments` to completion, killing it after `timeout` seconds.
/// Output goes through temporary files, so a large output cannot block the child.
/// `whileRunning` runs on the calling thread once the process has started.
func runProcess(
    _ path: String, _ arguments: [String], timeout: Double = 10,
    whileRunning: () throws -> Void = {}
) throws -> ProcessResult {
    let directory = makeRunDirectory()
    defer { removeDirectory(directory) }
    let outputPath = directory + "/stdout"
    let errorPath = directory + "/stderr"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))

    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    try whileRunning()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    try output.close()
    try errors.close()
    return ProcessResult(
        status: process.terminationStatus,
        standardOutput: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
        standardError: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
}

/// A service executable started for a test, stopped by `stop` or at deinit.
final class ServiceProcess {
    let process = Process()
    let service: ServiceName

    /// Starts `service` and waits until it replies to ping. Its log goes to
    /// `logPath` when given, at `logLevel` (default warning, or $TAGLINE_LOG_LEVEL).
    init(
        _ service: ServiceName, arguments: [String], runDirectory: String,
        logPath: String? = nil, logLevel: String? = nil
    ) throws {
        self.service = service
        process.executableURL = URL(fileURLWithPath: try builtExecutable(service.rawValue))
        process.arguments = arguments + ["--run-dir", runDirectory]
        var environment = ProcessInfo.processInfo.environment
        environment["TAGLINE_LOG_LEVEL"] =
            logLevel ?? environment["TAGLINE_LOG_LEVEL"] ?? "warning"
        process.environment = environment
        if let logPath {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        }
        try process.run()
        // Wait until the service replies to ping.
        let client = try BusClient(service: service, runDirectory: runDirectory, sender: "test")
        for _ in 0..<50 {
            if (try? client.request(
                MessageType.ping, EmptyRequest(), as: PingReply.self,
                timeout: 0.2)) != nil
            {
                return
            }
            guard process.isRunning else { break }
        }
        stop()
        throw ProcessSupportError(message: "\(service.rawValue) did not start within the timeout")
    }

    /// Sends `signal` and waits for the process to exit.
    func stop(_ signal: Int32 = SIGKILL) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Creates a Child SA between gateway 1 (198.51.100.1) and gateway 2 (198.51.100.2)
/// protecting 192.0.2.0/24 to 203.0.113.0/24, keys filled with marker bytes.
func makeChildSA(
    inboundSPI: UInt32, outboundSPI: UInt32 = 0xC0FF_EE01,
    installedAt: Double = 1_700_000_000
) -> ChildSA {
    ChildSA(
        inboundSPI: inboundSPI, outboundSPI: outboundSPI,
        ikeSAName: "0102030405060708-1112131415161718",
        localAddress: IPAddress("198.51.100.1")!, remoteAddress: IPAddress("198.51.100.2")!,
        udpEncapsulation: nil,
        localSelectors: [TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!)],
        remoteSelectors: [TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!)],
        encryption: .aesCBC128, integrity: .hmacSHA1_96,
        inboundKeys: ChildSAKeys(
            encryptionKey: Array(repeating: 0x11, count: 16),
            integrityKey: Array(repeating: 0x22, count: 20)),
        outboundKeys: ChildSAKeys(
            encryptionKey: Array(repeating: 0x33, count: 16),
            integrityKey: Array(repeating: 0x44, count: 20)),
        taggingNegotiated: true, cryptoMapName: "cmap", interfaceName: "out0",
        transformDescription: "esp-aes esp-sha-hmac", installedAt: installedAt)
}

/// A test prerequisite that is missing; thrown so the test fails with the message.
struct ProcessSupportError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
