// Command-line options shared by the service executables:
//   SERVICE --config FILE [--run-dir DIR] [--state-dir DIR] [--log-level LEVEL]

import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// The parsed options of a service executable.
public struct ServiceOptions: Sendable {
    /// `--config FILE`: the IOS-style configuration file.
    public var configPath: String?
    /// `--run-dir DIR`: bus sockets; default `$TAGLINE_RUN_DIR` or /run/tagline.
    public var runDirectory: String
    /// `--state-dir DIR`: SQLite files; default `$TAGLINE_STATE_DIR` or /var/lib/tagline.
    public var stateDirectory: String
    /// `--log-level LEVEL`: overrides TAGLINE_LOG_LEVEL.
    public var logLevel: LogLevel?
    /// Options this parser does not know, with their values, for the service to read.
    public var extra: [String: String] = [:]

    /// Parses `arguments` (without the program name). `valueOptions` lists
    /// extra options that take a value, `flagOptions` extra options without one.
    /// Throws `ServiceOptionsError` with a message for the usage line.
    public static func parse(
        _ arguments: [String], valueOptions: Set<String> = [],
        flagOptions: Set<String> = []
    ) throws -> ServiceOptions {
        var options = ServiceOptions(
            configPath: nil, runDirectory: BusPaths.defaultRunDirectory(),
            stateDirectory: defaultStateDirectory(), logLevel: nil)
        var index = 0
        func value(for option: String) throws -> String {
            index += 1
            guard index < arguments.count, !arguments[index].hasPrefix("--") else {
                throw ServiceOptionsError(message: "\(option) requires a value")
            }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--config": options.configPath = try value(for: argument)
            case "--run-dir": options.runDirectory = try value(for: argument)
            case "--state-dir": options.stateDirectory = try value(for: argument)
            case "--log-level":
                let text = try value(for: argument)
                guard let level = LogLevel(name: text) else {
                    throw ServiceOptionsError(
                        message: "invalid --log-level \(text); use error, warning, notice, "
                            + "info, debug or trace")
                }
                options.logLevel = level
            case "-h", "--help":
                throw ServiceOptionsError(message: "")
            default:
                if valueOptions.contains(argument) {
                    options.extra[argument] = try value(for: argument)
                } else if flagOptions.contains(argument) {
                    options.extra[argument] = ""
                } else {
                    throw ServiceOptionsError(message: "unknown option \(argument)")
                }
            }
            index += 1
        }
        return options
    }

    /// Parses the process's own arguments for a service that needs `--config`.
    /// Prints `usage` and exits 0 on `--help`; prints the error and `usage` to
    /// standard error and exits 1 on an invalid or missing option.
    public static func parseCommandLine(
        program: String, usage: String, valueOptions: Set<String> = [],
        flagOptions: Set<String> = []
    ) -> (options: ServiceOptions, configPath: String) {
        func exitWithUsage(_ message: String) -> Never {
            fputs("\(program): \(message)\n\(usage)\n", stderr)
            exit(1)
        }
        let options: ServiceOptions
        do {
            options = try parse(
                Array(CommandLine.arguments.dropFirst()), valueOptions: valueOptions,
                flagOptions: flagOptions)
        } catch let error as ServiceOptionsError {
            if error.message.isEmpty {
                print(usage)
                exit(0)
            }
            exitWithUsage(error.message)
        } catch {
            exitWithUsage("\(error)")
        }
        guard let configPath = options.configPath else {
            exitWithUsage("--config FILE is required")
        }
        return (options, configPath)
    }

    /// `$TAGLINE_STATE_DIR` when set and not empty, otherwise /var/lib/tagline.
    public static func defaultStateDirectory() -> String {
        if let value = getenv("TAGLINE_STATE_DIR"), value.pointee != 0 {
            return String(cString: value)
        }
        return "/var/lib/tagline"
    }
}

/// A command-line error; an empty message means `--help` was given.
public struct ServiceOptionsError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Creates `path` with mode 0700 when missing, and checks that an existing
/// directory belongs to this user and grants nothing to group or others.
/// Throws `BusError.runDirectory` saying what is wrong and how to fix it.
public func preparePrivateDirectory(_ path: String, purpose: String) throws {
    if mkdir(path, 0o700) != 0 && errno != EEXIST {
        let reason = String(cString: strerror(errno))
        throw BusError.runDirectory("cannot create \(purpose) \(path): \(reason)")
    }
    var info = stat()
    if lstat(path, &info) != 0 {
        let reason = String(cString: strerror(errno))
        throw BusError.runDirectory("\(purpose) \(path) is not usable: \(reason)")
    }
    if info.st_mode & S_IFMT != S_IFDIR {
        throw BusError.runDirectory("\(purpose) \(path) is not a directory")
    }
    if info.st_uid != geteuid() {
        throw BusError.runDirectory(
            "\(purpose) \(path) belongs to uid \(info.st_uid), not to uid \(geteuid()); "
                + "remove it or choose another directory")
    }
    let mode = info.st_mode & 0o777
    if mode & 0o077 != 0 {
        throw BusError.runDirectory(
            "\(purpose) \(path) has mode \(String(mode, radix: 8)); it must be 700 "
                + "so only its owner can read it (chmod 700 \(path))")
    }
}
