// The settings every command gets (bus location, output options) and a
// request helper that turns bus errors into messages an operator can act on.

import Foundation
import TaglineBus
import TaglineCore

/// A failed command: the message for standard error and the exit status.
struct CLIError: Error {
    var message: String
    var exitStatus: Int32
    /// True when the service did not reply at all, as opposed to replying with an error.
    var serviceNotRunning = false

    init(_ message: String, exitStatus: Int32 = 1) {
        self.message = message
        self.exitStatus = exitStatus
    }

    /// Creates a usage error, which exits with status 2.
    init(usage message: String) {
        self.init(message + "\n(run tagline help for the command list)", exitStatus: 2)
    }

    /// Creates a usage error about `commands`, followed by their usage lines.
    init(usage message: String, for commands: [Command]) {
        let lines = commands.enumerated().map { index, command in
            (index == 0 ? "usage: " : "       ") + command.usage
        }
        self.init(([message] + lines).joined(separator: "\n"), exitStatus: 2)
    }
}

/// Settings of one invocation.
struct CLIContext {
    var runDirectory: String
    var arguments: Arguments
    var timeout: Double

    var json: Bool { arguments.flags.contains("--json") }

    /// Sends one request and waits for the reply.
    func request<Req: Encodable, Rep: Decodable>(
        _ service: ServiceName, _ type: String, _ body: Req, as replyType: Rep.Type
    ) throws -> Rep {
        let client: BusClient
        do {
            client = try BusClient(service: service, runDirectory: runDirectory, sender: "tagline")
        } catch {
            var failure = CLIError("cannot open a connection to \(service.rawValue): \(error)")
            failure.serviceNotRunning = true
            throw failure
        }
        do {
            return try client.request(type, body, as: Rep.self, timeout: timeout)
        } catch let error as BusError {
            throw describe(error, service: service)
        }
    }

    /// Returns the operator's message for a failed request to `service`.
    func describe(_ error: BusError, service: ServiceName) -> CLIError {
        switch error {
        case .timeout:
            let endpoint = BusPaths(runDirectory: runDirectory).router(service)
            var hint = "start it or check TAGLINE_RUN_DIR"
            if access(runDirectory, F_OK) != 0 {
                hint =
                    "runtime directory \(runDirectory) does not exist; "
                    + "start the services or pass --run-dir"
            }
            var failure = CLIError(
                "\(service.rawValue) is not running (no reply from \(endpoint) within "
                    + "\(CLIContext.seconds(timeout)) s); \(hint)")
            failure.serviceNotRunning = true
            return failure
        case .remote(let message):
            return CLIError("\(service.rawValue): \(message)")
        default:
            return CLIError("\(service.rawValue): \(error)")
        }
    }

    /// Prints `value` as indented JSON with key material redacted.
    func printJSON<T: Encodable>(_ value: T) throws {
        let body = try Envelope.encodeBody(value)
        let text = String(decoding: JSONRedactor.redact(body, indent: 2), as: UTF8.self)
        print(text)
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
