// The line-by-line state machine of the loader: configuration modes, the
// fallback from a sub-mode to its parents, and blocks that are ignored or
// rejected as a whole. The commands of each mode live in ConfigParser+*.swift.

import TaglineCore

/// The configuration mode that the next line is tried in first.
indirect enum ParserMode: Equatable {
    case global
    case ikev2Proposal(String)
    case ikev2Policy(String)
    case keyring(String)
    case keyringPeer(keyring: String, index: Int)
    case ikev2Profile(String)
    case transformSet(String)
    case ipsecProfile(String)
    case cryptoMap(name: String, sequence: Int)
    case dynamicMap(name: String, sequence: Int)
    case accessList(String)
    case interface(String)
    /// Sub-lines of a command that Tagline does not implement, such as `line vty 0 4`.
    case unimplementedBlock(parent: ParserMode)
    /// Sub-lines of a block whose first line was rejected.
    case rejectedBlock(start: Int, parent: ParserMode)
    /// Text of a `banner` up to the closing delimiter.
    case banner(delimiter: String)

    /// The mode that a line falls back to when this mode does not know it.
    var parent: ParserMode {
        switch self {
        case .keyringPeer(let keyring, _): return .keyring(keyring)
        case .unimplementedBlock(let parent), .rejectedBlock(_, let parent): return parent
        default: return .global
        }
    }

    /// The mode as IOS names it in messages, such as "ikev2 profile prof".
    var name: String {
        switch self {
        case .global, .unimplementedBlock, .rejectedBlock, .banner: return "global configuration"
        case .ikev2Proposal(let name): return "ikev2 proposal \(name)"
        case .ikev2Policy(let name): return "ikev2 policy \(name)"
        case .keyring(let name): return "ikev2 keyring \(name)"
        case .keyringPeer(let keyring, _): return "peer of ikev2 keyring \(keyring)"
        case .ikev2Profile(let name): return "ikev2 profile \(name)"
        case .transformSet(let name): return "transform set \(name)"
        case .ipsecProfile(let name): return "ipsec profile \(name)"
        case .cryptoMap(let name, let sequence): return "crypto map \(name) \(sequence)"
        case .dynamicMap(let name, let sequence): return "dynamic map \(name) \(sequence)"
        case .accessList(let name): return "access list \(name)"
        case .interface(let name): return "interface \(name)"
        }
    }
}

/// Kinds of named objects that lines refer to, with the words messages use for them.
enum ObjectKind: String {
    case ikev2Proposal = "ikev2 proposal"
    case keyring = "ikev2 keyring"
    case ikev2Profile = "ikev2 profile"
    case transformSet = "transform set"
    case ipsecProfile = "ipsec profile"
    case cryptoMap = "crypto map"
    case dynamicMap = "dynamic map"
    case accessList = "access list"
    case interface = "interface"
}

/// A name used by a line, checked once the whole file has been read.
struct PendingReference {
    let kind: ObjectKind
    let name: String
    let line: Int
    let text: String
    /// Removes the reference from the model when the name turns out to be undefined.
    let remove: (inout GatewayConfig) -> Void
}

/// Parser state. `process` consumes lines in order and `finish` checks
/// completeness and references.
struct ConfigParser {
    var config = GatewayConfig()
    var diagnostics: [ConfigDiagnostic] = []
    var mode: ParserMode = .global
    var references: [PendingReference] = []
    /// Objects removed because a line or a completeness check rejected them, with that line.
    var rejectedObjects: [String: Int] = [:]
    /// Position of each prefix in `config.sgtBindings`, so a repeated prefix replaces in O(1).
    var bindingIndex: [IPPrefix: Int] = [:]
    /// Set by `end`; lines after it are not read.
    var ended = false
    /// Text of every line that is not a comment, for messages about block headers.
    var lineTexts: [Int: String] = [:]
    /// The line that last set a single-valued setting, keyed by a description such as
    /// "interface out0 ip address", so that a line replacing the value can name it.
    var settingLines: [String: Int] = [:]

    /// Handles one line; returns false once `end` has been read and the first
    /// line after it was reported.
    mutating func process(_ line: ConfigLine) -> Bool {
        if ended {
            guard !line.isComment else { return true }
            addIgnored(line, "after end, so this line and the rest of the file are not read")
            return false
        }
        if case .banner(let delimiter) = mode {
            if !line.text.isEmpty { addIgnored(line, "not implemented") }
            if line.text.contains(delimiter) { mode = .global }
            return true
        }
        if line.isComment { return true }
        lineTexts[line.number] = line.displayText
        if line.hasInvalidCharacters {
            addError(line, "line contains control characters or bytes that are not UTF-8")
            return true
        }
        if line.keywords == ["end"] {
            ended = true
            return true
        }
        if line.keywords == ["exit"] {
            mode = mode.parent
            return true
        }
        dispatch(line)
        return true
    }

    /// Tries the line in the current mode and then in each parent mode.
    private mutating func dispatch(_ line: ConfigLine) {
        let original = mode
        while true {
            switch mode {
            case .global:
                runGlobal(line, original: original)
                return

            case .unimplementedBlock(let parent), .rejectedBlock(_, let parent):
                if leavesBlock(line, parent: parent) {
                    mode = parent
                    continue
                }
                if case .rejectedBlock(let start, _) = mode {
                    addIgnored(line, "not applied because the block at line \(start) was rejected")
                } else {
                    addIgnored(line, "not implemented")
                }
                return

            case .banner:
                return

            default:
                if isGlobalOnly(line) {
                    mode = .global
                    continue
                }
                do {
                    if let result = try runSubMode(line) {
                        if result == .ignored { addIgnored(line, "not implemented") }
                        return
                    }
                } catch let error as ConfigLineError {
                    addError(line, error.message)
                    return
                } catch {
                    addError(line, "\(error)")
                    return
                }
                mode = mode.parent
            }
        }
    }

    /// Runs a command of the current sub-mode; nil when the mode has no such command.
    private mutating func runSubMode(_ line: ConfigLine) throws -> CommandResult? {
        switch mode {
        case .ikev2Proposal(let name): return try proposalCommand(line, proposal: name)
        case .ikev2Policy(let name): return try policyCommand(line, policy: name)
        case .keyring(let name): return try keyringCommand(line, keyring: name)
        case .keyringPeer(let keyring, let index):
            return try keyringPeerCommand(line, keyring: keyring, index: index)
        case .ikev2Profile(let name): return try profileCommand(line, profile: name)
        case .transformSet(let name): return try transformSetCommand(line, transformSet: name)
        case .ipsecProfile(let name): return try ipsecProfileCommand(line, profile: name)
        case .cryptoMap(let name, let sequence):
            return try cryptoMapCommand(line, table: \.cryptoMaps, map: name, sequence: sequence)
        case .dynamicMap(let name, let sequence):
            return try cryptoMapCommand(line, table: \.dynamicMaps, map: name, sequence: sequence)
        case .accessList(let name): return try accessListCommand(line, accessList: name)
        case .interface(let name): return try interfaceCommand(line, interface: name)
        case .global, .unimplementedBlock, .rejectedBlock, .banner: return nil
        }
    }

    /// Runs a global command. A line that matches no mode is an error, and the mode
    /// stays where it was, as IOS does after invalid input.
    ///
    /// A mistyped or cut-short line of an implemented family (`GlobalCommand.invalid`)
    /// is an error too. When it is indented inside a sub-mode, the sub-mode goes on.
    /// Otherwise it was probably a block header, so the lines under it are reported
    /// as not applied because of it.
    private mutating func runGlobal(_ line: ConfigLine, original: ParserMode) {
        let command = globalCommand(line)
        if command == .unknown, original != .global {
            mode = original
            switch original {
            case .unimplementedBlock, .rejectedBlock, .banner, .global:
                addError(line, "unknown command")
            default:
                addError(line, "unknown command in \(original.name) mode or global mode")
            }
            return
        }
        if case .invalid(let message) = command {
            addError(line, message)
            switch original {
            case .global, .unimplementedBlock, .rejectedBlock, .banner:
                mode = .rejectedBlock(start: line.number, parent: .global)
            default:
                mode =
                    line.isIndented
                    ? original : .rejectedBlock(start: line.number, parent: .global)
            }
            return
        }
        do {
            switch try runGlobalCommand(command, line) {
            case .applied:
                break
            case .ignored:
                addIgnored(line, "not implemented")
                mode = .unimplementedBlock(parent: .global)
            }
        } catch let error as ConfigLineError {
            addError(line, error.message)
        } catch {
            addError(line, "\(error)")
        }
    }

    /// True for a global command that Tagline implements and that no sub-mode
    /// shares, such as `cts role-based sgt-map` after an interface block whose
    /// own `cts` commands are ignored. The interface command `crypto map NAME`
    /// has three words, while the global one has a sequence number as well.
    private func isGlobalOnly(_ line: ConfigLine) -> Bool {
        switch globalCommand(line) {
        case .ignored, .unknown, .banner, .invalid:
            return false
        case .cryptoMap:
            return line.words.count > 3
        case .ipsecFragmentation:
            // Interface mode has the same line; indented, it belongs to the sub-mode.
            return !line.isIndented
        default:
            return true
        }
    }

    /// Decides whether a line ends an ignored or rejected block. IOS does not say
    /// where an unknown block ends, so a line ends it when it is a command that
    /// Tagline implements, a known global command at column 0, or garbage. Any
    /// other line, even at column 0, counts as a sub-line of the block.
    private func leavesBlock(_ line: ConfigLine, parent: ParserMode) -> Bool {
        if case .keyring = parent, line.keyword(0) == "peer" { return true }
        // A first word that no IOS command could have, such as "%%%", is garbage
        // rather than a sub-command, so it is reported as an error.
        let isCommandWord =
            line.keywords.first?.allSatisfy {
                $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_")
            } ?? false
        if !isCommandWord { return true }
        switch globalCommand(line) {
        case .unknown: return false
        case .ignored, .banner: return !line.isIndented
        default: return true
        }
    }

    // MARK: - Diagnostics

    mutating func addIgnored(_ line: ConfigLine, _ message: String) {
        diagnostics.append(
            ConfigDiagnostic(
                line: line.number, kind: .ignored, text: line.displayText,
                message: message))
    }

    mutating func addError(_ line: ConfigLine, _ message: String) {
        diagnostics.append(
            ConfigDiagnostic(
                line: line.number, kind: .error, text: line.displayText,
                message: message))
    }

    mutating func addError(line: Int, text: String, _ message: String) {
        diagnostics.append(ConfigDiagnostic(line: line, kind: .error, text: text, message: message))
    }

    mutating func addWarning(_ line: ConfigLine, _ message: String) {
        diagnostics.append(
            ConfigDiagnostic(
                line: line.number, kind: .warning, text: line.displayText,
                message: message))
    }

    mutating func addWarning(line: Int, text: String, _ message: String) {
        diagnostics.append(
            ConfigDiagnostic(line: line, kind: .warning, text: text, message: message))
    }

    /// Records that `name` is used by `line`, to be checked in `finish`.
    mutating func addReference(
        _ kind: ObjectKind, _ name: String, _ line: ConfigLine,
        remove: @escaping (inout GatewayConfig) -> Void
    ) {
        references.append(
            PendingReference(
                kind: kind, name: name, line: line.number,
                text: line.displayText, remove: remove))
    }

    /// Records that an object was rejected, so that errors about references to it name that line.
    mutating func markRejected(_ kind: ObjectKind, _ name: String, line: Int) {
        rejectedObjects["\(kind.rawValue) \(name)"] = line
    }
}
