// `tagline` argument errors: each names the argument or option that failed,
// prints the usage line of the command and exits with status 2, before any
// request is sent.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class CLIArgumentTests: XCTestCase {
    var runDirectory = ""

    override func setUp() {
        // No service listens here, so a command that got past its checks
        // would fail with "not running" and exit 1, not 2.
        runDirectory = makeRunDirectory()
    }

    override func tearDown() {
        removeDirectory(runDirectory)
    }

    private func tagline(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(
            try builtExecutable("tagline"),
            ["--run-dir", runDirectory, "--timeout", "0.2"] + arguments)
    }

    /// Runs each case and checks exit status 2 and every expected line part.
    private func checkUsageErrors(_ cases: [(String, [String])]) throws {
        for (line, expected) in cases {
            let arguments = line.split(separator: " ").map(String.init)
            let result = try tagline(arguments)
            XCTAssertEqual(result.status, 2, "\(line): \(result.standardError)")
            for text in expected {
                XCTAssertTrue(
                    result.standardError.contains(text), "\(line): \(result.standardError)")
            }
            XCTAssertEqual(result.standardOutput, "", line)
        }
    }

    func testInvalidArguments() throws {
        try checkUsageErrors([
            (
                "show cts role-based sgt-map 999.1.1.1",
                [
                    "tagline: invalid address 999.1.1.1: expected an IPv4",
                    "usage: tagline show cts role-based sgt-map all [--json]",
                    "       tagline show cts role-based sgt-map A.B.C.D|X:X::X [--json]",
                ]
            ),
            (
                "clear crypto ikev2 sa abc",
                [
                    "tagline: invalid tunnel id abc: expected a whole number of 1 or more",
                    "usage: tagline clear crypto ikev2 sa\n",
                    "       tagline clear crypto ikev2 sa TUNNEL-ID\n",
                ]
            ),
            ("clear crypto ikev2 sa -1", ["invalid tunnel id -1:"]),
            ("clear crypto ikev2 sa +5", ["invalid tunnel id +5:"]),
            ("clear crypto ikev2 sa 0", ["invalid tunnel id 0:"]),
            ("clear crypto ikev2 sa 99999999999999999999", ["invalid tunnel id 9999"]),
            (
                "cts role-based sgt-map add 192.0.2.1 sgt +5",
                [
                    "invalid SGT +5: expected a whole number from 1 to 65534",
                    "usage: tagline cts role-based sgt-map add PREFIX sgt SGT",
                ]
            ),
            ("cts role-based sgt-map add 192.0.2.1 sgt 65535", ["SGT 65535 (0xFFFF) is reserved"]),
            ("cts role-based sgt-map add 192.0.2.1 sgt 70000", ["SGT 70000 is out of range"]),
            (
                "cts role-based sgt-map del 192.0.2.1/24",
                [
                    "invalid prefix 192.0.2.1/24",
                    "usage: tagline cts role-based sgt-map delete PREFIX",
                ]
            ),
        ])
    }

    func testMissingAndExtraWords() throws {
        try checkUsageErrors([
            ("config check", ["tagline: missing FILE\nusage: tagline config check FILE\n"]),
            (
                "show cts role-based sgt-map",
                [
                    "incomplete command: show cts role-based sgt-map",
                    "usage: tagline show cts role-based sgt-map all",
                    "       tagline show cts role-based sgt-map A.B.C.D|X:X::X",
                ]
            ),
            (
                "cts role-based sgt-map add 192.0.2.1 sgt",
                ["tagline: missing SGT\nusage: tagline cts role-based sgt-map add PREFIX sgt SGT\n"]
            ),
            (
                "config check a.cfg b.cfg",
                ["unexpected argument b.cfg after config check a.cfg", "usage: tagline config"]
            ),
            ("show dataplane now", ["unexpected argument now after show dataplane"]),
            ("show crypto ipsec sa detail x", ["unexpected argument x after show crypto ipsec"]),
            ("ping x", ["unexpected argument x after ping", "usage: tagline ping [--json]"]),
            (
                "show bogus",
                ["unknown command: show bogus", "usage: tagline show crypto ikev2 sa"]
            ),
            ("bogus", ["unknown command: bogus\n(run tagline help for the command list)"]),
        ])
    }

    func testOptionsCommandDoesNotTake() throws {
        try checkUsageErrors([
            (
                "show dataplane --wireshark",
                [
                    "tagline: show dataplane does not take --wireshark",
                    "usage: tagline show dataplane [--json]",
                ]
            ),
            (
                "show crypto ipsec sa --json --wireshark",
                [
                    "--json and --wireshark cannot be used together",
                    "usage: tagline show crypto ipsec sa [detail] [--json] [--wireshark]",
                ]
            ),
            (
                "show crypto ipsec sa detail --wireshark",
                ["--wireshark prints esp_sa lines and cannot be used with detail"]
            ),
            ("clear crypto sa --json", ["clear crypto sa does not take --json"]),
            ("show dataplane --duration 1", ["show dataplane does not take --duration"]),
            ("ping --chrome x.json", ["ping does not take --chrome"]),
            ("trace --count 3", ["trace does not take --count"]),
            ("debug crypto ikev2 internal -v", ["debug crypto ikev2 internal does not take -v"]),
            ("config check x.cfg --json", ["config check FILE does not take --json"]),
        ])
    }

    func testOptionValues() throws {
        try checkUsageErrors([
            ("ping --bogus", ["unknown option --bogus"]),
            ("ping -x", ["unknown option -x"]),
            ("trace --follow", ["--follow requires a value"]),
            ("trace --duration 1 --duration 2", ["--duration is given twice"]),
            ("ping --timeout 1e300", ["--timeout is given twice"]),
            ("debug crypto ikev2 internal --count 1e30", ["invalid --count value 1e30"]),
            ("debug crypto ikev2 internal --count 1.5", ["invalid --count value 1.5"]),
            ("trace --duration -1", ["invalid --duration value -1"]),
            ("trace --duration nan", ["invalid --duration value nan"]),
        ])
        let huge = try runProcess(
            try builtExecutable("tagline"),
            ["--run-dir", runDirectory, "ping", "--timeout", "1e300"])
        XCTAssertEqual(huge.status, 2)
        XCTAssertTrue(
            huge.standardError.contains("invalid --timeout value 1e300: expected a number above 0"),
            huge.standardError)
    }

    func testTraceChromePathFailsAtOnce() throws {
        let directory = runDirectory + "/a-directory"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: false)
        for path in ["/nonexistent-tagline-test/x.json", directory] {
            let started = Date()
            let result = try tagline(["trace", "--duration", "5", "--chrome", path])
            let elapsed = Date().timeIntervalSince(started)
            XCTAssertEqual(result.status, 1, result.standardError)
            XCTAssertTrue(
                result.standardError.contains("cannot write trace file \(path): "),
                result.standardError)
            XCTAssertLessThan(elapsed, 3, "the trace ran before the path was checked")
            XCTAssertFalse(result.standardOutput.contains("tracing"), result.standardOutput)
        }
    }

    func testHelpDocumentsBindingPrecedence() throws {
        let result = try tagline(["help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.standardOutput.contains("show crypto ikev2 stats"))
        XCTAssertTrue(
            result.standardOutput.contains("A configured binding thus takes precedence"),
            result.standardOutput)
        for line in result.standardOutput.split(separator: "\n") {
            XCTAssertLessThanOrEqual(line.count, 100, String(line))
        }
    }
}
