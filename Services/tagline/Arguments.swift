// Command-line options of `tagline`: options may appear anywhere, and the
// remaining words are matched against the command table (see Command.swift).

import TaglineCore

/// One command-line option.
struct OptionSpec {
    var name: String
    /// Name of the option's value in help and usage lines; nil for a flag.
    var valueName: String?
    var help: String
}

/// Every option, in the order the help lists them.
let optionSpecs: [OptionSpec] = [
    OptionSpec(
        name: "--run-dir", valueName: "DIR",
        help: "runtime directory of the bus sockets (default $TAGLINE_RUN_DIR or /run/tagline)"),
    OptionSpec(
        name: "--timeout", valueName: "S",
        help: "seconds to wait for each reply (default 2, at most \(Int(maxTimeout)))"),
    OptionSpec(
        name: "--json", valueName: nil,
        help: "show commands and ping: print the reply as JSON (key material redacted)"),
    OptionSpec(
        name: "--wireshark", valueName: nil,
        help: "show crypto ipsec sa: print Wireshark esp_sa lines, keys included"),
    OptionSpec(
        name: "--duration", valueName: "S", help: "debug and trace: stop after this many seconds"),
    OptionSpec(name: "--count", valueName: "N", help: "debug: stop after this many lines"),
    OptionSpec(
        name: "--follow", valueName: "ID", help: "trace: print only messages of this trace id"),
    OptionSpec(
        name: "--chrome", valueName: "FILE",
        help: "trace: also write a Chrome trace-event JSON file (opens in Perfetto)"),
    OptionSpec(
        name: "-v", valueName: nil,
        help: "trace: print each message body (key material redacted)"),
    OptionSpec(name: "--help", valueName: nil, help: "print this help"),
]

/// Options that every command takes.
let globalOptions: Set<String> = ["--run-dir", "--timeout", "--help"]

/// Longest `--timeout` accepted, in seconds: one day.
let maxTimeout = 86_400.0

/// Other spellings of options.
private let optionAliases = ["-h": "--help", "--verbose": "-v"]

/// The words and options of one invocation.
struct Arguments {
    var words: [String] = []
    var values: [String: String] = [:]
    var flags: Set<String> = []

    init(_ arguments: [String]) throws {
        let specs = Dictionary(uniqueKeysWithValues: optionSpecs.map { ($0.name, $0) })
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = optionAliases[argument] ?? argument
            if let spec = specs[name], spec.valueName != nil {
                index += 1
                guard index < arguments.count, !arguments[index].isEmpty else {
                    throw CLIError(usage: "\(name) requires a value")
                }
                guard values[name] == nil else {
                    throw CLIError(usage: "\(name) is given twice")
                }
                values[name] = arguments[index]
            } else if specs[name] != nil {
                flags.insert(name)
            } else if Arguments.looksLikeOption(argument) {
                throw CLIError(usage: "unknown option \(argument)")
            } else {
                words.append(argument)
            }
            index += 1
        }
    }

    /// All options given, in the order of `optionSpecs`.
    var givenOptions: [String] {
        optionSpecs.map(\.name).filter { values[$0] != nil || flags.contains($0) }
    }

    /// True for `--anything` and for `-x` with a letter, so that a negative
    /// number such as `-1` stays a word and gets the message of its argument.
    static func looksLikeOption(_ argument: String) -> Bool {
        if argument.hasPrefix("--") { return true }
        guard argument.hasPrefix("-"), let second = argument.dropFirst().first else {
            return false
        }
        return second.isLetter
    }

    /// Returns the positive number given with `option`, or nil when absent.
    func positiveNumber(_ option: String, maximum: Double = .greatestFiniteMagnitude) throws
        -> Double?
    {
        guard let text = values[option] else { return nil }
        guard let value = Double(text), value > 0, value.isFinite, value <= maximum else {
            let limit = maximum == .greatestFiniteMagnitude ? "" : " up to \(Int(maximum))"
            throw CLIError(
                usage: "invalid \(option) value \(text): expected a number above 0\(limit)")
        }
        return value
    }

    /// Returns the whole number of 1 or more given with `option`, or nil when absent.
    func positiveInteger(_ option: String) throws -> Int? {
        guard let text = values[option] else { return nil }
        guard text.allSatisfy(\.isASCIIDigit), let value = Int(text), value > 0 else {
            throw CLIError(
                usage: "invalid \(option) value \(text): expected a whole number of 1 or more")
        }
        return value
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
