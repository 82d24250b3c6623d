// Configuration errors as the operator sees them: `tagline config check`
// (counts in singular or plural, exit status) and the notice a service logs
// once when it starts from a configuration with errors.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class CLIConfigCheckTests: XCTestCase {
    var directory = ""

    override func setUp() {
        directory = makeRunDirectory()
    }

    override func tearDown() {
        removeDirectory(directory)
    }

    /// Writes `lines` and `end` to `name` in the test directory; returns its path.
    private func writeConfig(_ name: String, _ lines: [String]) -> String {
        let path = directory + "/" + name
        let text = (lines + ["end", ""]).joined(separator: "\n")
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    private func configCheck(_ path: String) throws -> ProcessResult {
        try runProcess(try builtExecutable("tagline"), ["config", "check", path])
    }

    func testConfigCheckCounts() throws {
        let valid = writeConfig("valid.cfg", ["cts role-based sgt-map 192.0.2.0/24 sgt 10"])
        let good = try configCheck(valid)
        XCTAssertEqual(good.status, 0, good.standardError)
        XCTAssertEqual(good.standardOutput, "\(valid): 0 errors, 0 warnings, 0 ignored lines\n")
        XCTAssertEqual(good.standardError, "")

        let oneError = writeConfig(
            "one.cfg", ["cts role-based sgt-map 192.0.2.1 sgt 0", "logging buffered 4096"])
        let single = try configCheck(oneError)
        XCTAssertEqual(single.status, 1)
        XCTAssertTrue(single.standardOutput.contains("line 1: error:"), single.standardOutput)
        XCTAssertTrue(
            single.standardOutput.hasSuffix("\(oneError): 1 error, 0 warnings, 1 ignored line\n"),
            single.standardOutput)
        XCTAssertEqual(single.standardError, "tagline: \(oneError) has 1 invalid line\n")

        let twoErrors = writeConfig(
            "two.cfg",
            ["cts role-based sgt-map 192.0.2.1 sgt 0", "cts role-based sgt-map 192.0.2.2 sgt 0"])
        let plural = try configCheck(twoErrors)
        XCTAssertEqual(plural.status, 1)
        XCTAssertTrue(
            plural.standardOutput.hasSuffix(
                "\(twoErrors): 2 errors, 0 warnings, 0 ignored lines\n"),
            plural.standardOutput)
        XCTAssertEqual(plural.standardError, "tagline: \(twoErrors) has 2 invalid lines\n")

        // A second binding for the same prefix is a warning, which keeps exit status 0.
        let replaced = writeConfig(
            "replaced.cfg",
            [
                "cts role-based sgt-map 192.0.2.2 sgt 333",
                "cts role-based sgt-map 192.0.2.2 sgt 334",
            ])
        let warning = try configCheck(replaced)
        XCTAssertEqual(warning.status, 0, warning.standardError)
        XCTAssertTrue(
            warning.standardOutput.hasSuffix("\(replaced): 0 errors, 1 warning, 0 ignored lines\n"),
            warning.standardOutput)

        let missing = try configCheck(directory + "/none.cfg")
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.standardError.contains("cannot read"), missing.standardError)
    }

    /// Starts `service` from `config` with its log at notice level and
    /// returns the log once the service replies to ping.
    private func startupLog(_ service: ServiceName, config: String) throws -> String {
        let runDirectory = makeRunDirectory()
        defer { removeDirectory(runDirectory) }
        let logPath = directory + "/\(service.rawValue).log"
        let process = try ServiceProcess(
            service,
            arguments: ["--config", config, "--state-dir", directory + "/state-\(service)"],
            runDirectory: runDirectory, logPath: logPath, logLevel: "notice")
        process.stop(SIGTERM)
        return try String(contentsOfFile: logPath, encoding: .utf8)
    }

    /// Returns how often `text` occurs in `log`.
    private func occurrences(_ text: String, in log: String) -> Int {
        log.components(separatedBy: text).count - 1
    }

    func testServicesNoticeConfigErrors() throws {
        let twoErrors = writeConfig(
            "two.cfg",
            [
                "cts role-based sgt-map 192.0.2.0/24 sgt 10",
                "cts role-based sgt-map 192.0.2.1 sgt 0",
                "%%% not a command",
            ])
        let storeLog = try startupLog(.bindingStore, config: twoErrors)
        let storeNotice =
            "notice [cts-binding-store] TAG running with 2 configuration errors in \(twoErrors); "
            + "see tagline config check \(twoErrors)\n"
        XCTAssertEqual(occurrences(storeNotice, in: storeLog), 1, storeLog)

        let oneError = writeConfig("one.cfg", ["cts role-based sgt-map 192.0.2.1 sgt 0"])
        let managerLog = try startupLog(.saManager, config: oneError)
        let managerNotice =
            "notice [sa-manager] CHILD running with 1 configuration error in \(oneError); "
            + "see tagline config check \(oneError)\n"
        XCTAssertEqual(occurrences(managerNotice, in: managerLog), 1, managerLog)
    }

    func testServicesQuietForValidConfig() throws {
        let valid = writeConfig("valid.cfg", ["cts role-based sgt-map 192.0.2.0/24 sgt 10"])
        for service in [ServiceName.bindingStore, .saManager] {
            let log = try startupLog(service, config: valid)
            XCTAssertTrue(log.contains("started, pid"), log)
            XCTAssertFalse(log.contains("configuration error"), log)
        }
    }
}
