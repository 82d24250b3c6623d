// Command-line parsing of `tagline`: options may appear anywhere, and the
// remaining words are matched against the command table, where each keyword
// may be abbreviated as on IOS ("sh cry ips sa") as long as it stays unique.

import TaglineCore

/// Options that take a value, and what they set.
let valueOptions: [String: String] = [
    "--run-dir": "runtime directory of the bus sockets (default $TAGLINE_RUN_DIR or /run/tagline)",
    "--timeout": "seconds to wait for each reply (default 2)",
    "--duration": "debug and trace: stop after this many seconds",
    "--count": "debug: stop after this many lines",
    "--follow": "trace: print only messages of this trace id",
    "--chrome": "trace: also write a Chrome trace-event JSON file (opens in Perfetto)",
]

/// Options without a value.
let flagOptions: [String: String] = [
    "--json": "show commands: print the reply as JSON (key material redacted)",
    "--wireshark": "show crypto ipsec sa: print Wireshark esp_sa lines, keys included",
    "-v": "trace: print each message body (key material redacted)",
    "--help": "print this help",
]

/// The words and options of one invocation.
struct Arguments {
    var words: [String] = []
    var values: [String: String] = [:]
    var flags: Set<String> = []

    init(_ arguments: [String]) throws {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = argument == "-h" ? "--help" : (argument == "--verbose" ? "-v" : argument)
            if valueOptions[name] != nil {
                index += 1
                guard index < arguments.count else {
                    throw CLIError(usage: "\(name) requires a value")
                }
                values[name] = arguments[index]
            } else if flagOptions[name] != nil {
                flags.insert(name)
            } else if argument.hasPrefix("--") {
                throw CLIError(usage: "unknown option \(argument)")
            } else {
                words.append(argument)
            }
            index += 1
        }
    }

    /// Returns the positive number given with `option`, or nil when absent.
    func positiveNumber(_ option: String) throws -> Double? {
        guard let text = values[option] else { return nil }
        guard let value = Double(text), value > 0, value.isFinite else {
            throw CLIError(usage: "\(option) must be a positive number, not \(text)")
        }
        return value
    }
}

/// One element of a command pattern.
enum PatternElement {
    /// A keyword; the user may type any unique prefix of it.
    case keyword(String)
    /// A keyword that may be left out, only at the end of a pattern.
    case optionalKeyword(String)
    /// An IP address.
    case address
    /// An IP prefix, or an address meaning a host prefix.
    case prefix
    /// A decimal number.
    case number
    /// Any word, such as a file name.
    case word(String)

    var text: String {
        switch self {
        case .keyword(let word): return word
        case .optionalKeyword(let word): return "[\(word)]"
        case .address: return "A.B.C.D|X:X::X"
        case .prefix: return "PREFIX"
        case .number: return "N"
        case .word(let name): return name
        }
    }
}

/// A command: its pattern and the function that runs it.
struct Command {
    var pattern: [PatternElement]
    var summary: String
    var run: (CLIContext, [String]) throws -> Void

    var syntax: String { pattern.map(\.text).joined(separator: " ") }

    /// Returns the words bound to the pattern's non-keyword elements and present
    /// optional keywords (as the keyword), or nil when `words` do not match.
    func match(_ words: [String]) -> [String]? {
        var bound: [String] = []
        var index = 0
        for element in pattern {
            let word = index < words.count ? words[index] : nil
            switch element {
            case .keyword(let keyword):
                guard let word, Command.abbreviates(word, keyword) else { return nil }
            case .optionalKeyword(let keyword):
                guard let word else { continue }
                guard Command.abbreviates(word, keyword) else { return nil }
                bound.append(keyword)
            case .address:
                guard let word, IPAddress(word) != nil else { return nil }
                bound.append(word)
            case .prefix:
                guard let word, IPPrefix(word) != nil else { return nil }
                bound.append(word)
            case .number:
                guard let word, Int(word) != nil else { return nil }
                bound.append(word)
            case .word:
                guard let word else { return nil }
                bound.append(word)
            }
            index += 1
        }
        return index == words.count ? bound : nil
    }

    static func abbreviates(_ word: String, _ keyword: String) -> Bool {
        !word.isEmpty && keyword.hasPrefix(word.lowercased())
    }
}
