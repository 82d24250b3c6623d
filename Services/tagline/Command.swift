// Command patterns and how typed words resolve to one command. Each keyword
// may be abbreviated as on IOS ("sh cry ips sa") as long as it stays unique.
// When no command matches, the error names the word that failed: an invalid
// or missing argument, an extra word or an unknown keyword, with the usage
// lines of the commands that came closest.

import TaglineCore

/// An argument of a command: its name in usage lines and its check.
struct Parameter {
    var name: String
    /// Returns nil for a valid word, or the error message for an invalid one.
    var check: (String) -> String?

    static let address = Parameter(name: "A.B.C.D|X:X::X") { word in
        IPAddress(word) != nil
            ? nil : "invalid address \(word): expected an IPv4 (A.B.C.D) or IPv6 (X:X::X) address"
    }

    static let prefix = Parameter(name: "PREFIX") { word in
        IPPrefix(word) != nil
            ? nil
            : "invalid prefix \(word): expected A.B.C.D[/N] or X:X::X[/N] with no host bits set"
    }

    static let sgt = Parameter(name: "SGT") { word in
        guard word.allSatisfy(\.isASCIIDigit) else {
            return "invalid SGT \(word): expected a whole number from 1 to 65534"
        }
        switch SGT.parse(word) {
        case .success: return nil
        case .failure(let error): return "\(error)"
        }
    }

    /// A tunnel id as `show crypto ikev2 sa` prints it: decimal digits, 1 or more.
    static let tunnelID = Parameter(name: "TUNNEL-ID") { word in
        if word.allSatisfy(\.isASCIIDigit), let value = Int(word), value > 0 { return nil }
        return "invalid tunnel id \(word): expected a whole number of 1 or more "
            + "(the Tunnel-id column of show crypto ikev2 sa)"
    }

    static let file = Parameter(name: "FILE") { _ in nil }
}

/// One element of a command pattern.
enum PatternElement {
    /// A keyword; the user may type any unique prefix of it.
    case keyword(String)
    /// A keyword that may be left out, only at the end of a pattern.
    case optionalKeyword(String)
    case parameter(Parameter)

    var text: String {
        switch self {
        case .keyword(let word): return word
        case .optionalKeyword(let word): return "[\(word)]"
        case .parameter(let parameter): return parameter.name
        }
    }
}

/// A failed match of typed words against one command, and how far it got.
struct MatchFailure {
    /// Kinds in increasing order of how precisely they point at the user's mistake.
    enum Kind: Int, Comparable {
        case wrongKeyword, missing, extraWords, invalidArgument

        static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Number of words that matched before the failure.
    var position: Int
    var kind: Kind
    /// The invalid argument's message, or the missing argument's name
    /// (empty for a missing keyword).
    var detail: String = ""
}

/// A command: its pattern, the options it takes and the function that runs it.
struct Command {
    var pattern: [PatternElement]
    /// Options taken besides `globalOptions`.
    var options: [String] = []
    /// Pairs of options that cannot be given together.
    var conflicts: [(String, String)] = []
    var summary: String
    var run: (CLIContext, [String]) throws -> Void

    var syntax: String { pattern.map(\.text).joined(separator: " ") }

    /// `tagline show crypto ipsec sa [detail] [--json] [--wireshark]`.
    var usage: String {
        var parts = ["tagline", syntax]
        for name in options {
            let value = optionSpecs.first { $0.name == name }?.valueName.map { " " + $0 } ?? ""
            parts.append("[\(name)\(value)]")
        }
        return parts.joined(separator: " ")
    }

    /// Matches `words` against the pattern. A match binds the words of the
    /// parameters and the present optional keywords (as the keyword).
    func match(_ words: [String]) -> MatchOutcome {
        var bound: [String] = []
        var index = 0
        func fail(_ kind: MatchFailure.Kind, _ detail: String = "") -> MatchOutcome {
            .failed(MatchFailure(position: index, kind: kind, detail: detail))
        }
        for element in pattern {
            let word = index < words.count ? words[index] : nil
            switch element {
            case .keyword(let keyword):
                guard let word else { return fail(.missing) }
                guard Command.abbreviates(word, keyword) else { return fail(.wrongKeyword) }
            case .optionalKeyword(let keyword):
                guard let word else { continue }
                guard Command.abbreviates(word, keyword) else { return fail(.wrongKeyword) }
                bound.append(keyword)
            case .parameter(let parameter):
                guard let word else { return fail(.missing, parameter.name) }
                if let message = parameter.check(word) { return fail(.invalidArgument, message) }
                bound.append(word)
            }
            index += 1
        }
        return index == words.count ? .matched(bound) : fail(.extraWords)
    }

    static func abbreviates(_ word: String, _ keyword: String) -> Bool {
        !word.isEmpty && keyword.hasPrefix(word.lowercased())
    }

    /// Rejects options this command does not take, and conflicting ones.
    func checkOptions(_ arguments: Arguments) throws {
        for name in arguments.givenOptions
        where !globalOptions.contains(name) && !options.contains(name) {
            throw CLIError(usage: "\(syntax) does not take \(name)", for: [self])
        }
        for (first, second) in conflicts
        where arguments.givenOptions.contains(first) && arguments.givenOptions.contains(second) {
            throw CLIError(usage: "\(first) and \(second) cannot be used together", for: [self])
        }
    }
}

/// The result of matching words against one command.
enum MatchOutcome {
    case matched([String])
    case failed(MatchFailure)
}

/// Finds the one command in `table` that `words` match. Otherwise throws a
/// usage error about the word that failed, followed by the usage lines of the
/// commands that matched the most words.
func resolve(_ words: [String], in table: [Command]) throws -> (Command, [String]) {
    var matches: [(Command, [String])] = []
    var failures: [(Command, MatchFailure)] = []
    for command in table {
        switch command.match(words) {
        case .matched(let bound): matches.append((command, bound))
        case .failed(let failure): failures.append((command, failure))
        }
    }
    let typed = words.joined(separator: " ")
    if matches.count == 1 { return matches[0] }
    if matches.count > 1 {
        let candidates = matches.map { "  " + $0.0.syntax }.joined(separator: "\n")
        throw CLIError(usage: "ambiguous command: \(typed); it matches\n\(candidates)")
    }

    // The closest commands matched the most words. The message comes from the
    // most precise of their failures.
    let position = failures.map(\.1.position).max() ?? 0
    guard position > 0 else { throw CLIError(usage: "unknown command: \(typed)") }
    let closest = failures.filter { $0.1.position == position }
    let commands = closest.map(\.0)
    let failure = closest.map(\.1).max { $0.kind < $1.kind }!
    let message: String
    switch failure.kind {
    case .invalidArgument:
        message = failure.detail
    case .missing where commands.count == 1 && !failure.detail.isEmpty:
        message = "missing \(failure.detail)"
    case .missing:
        message = "incomplete command: \(typed)"
    case .extraWords:
        let matched = words[..<position].joined(separator: " ")
        message = "unexpected argument \(words[position]) after \(matched)"
    case .wrongKeyword:
        message = "unknown command: \(typed) (\(words[position]) is not valid here)"
    }
    throw CLIError(usage: message, for: commands)
}
