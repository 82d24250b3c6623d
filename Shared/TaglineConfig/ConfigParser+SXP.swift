// `cts sxp ...`: SXP (SGT Exchange Protocol) connections of cts-binding-store.
//
//   cts sxp enable
//   cts sxp default password [0] PASSWORD
//   cts sxp default source-ip ADDRESS
//   cts sxp node-id ADDRESS
//   cts sxp connection peer ADDRESS [source ADDRESS] password default|none|KEY
//       mode local|peer [speaker|listener] [hold-time MIN [MAX]]
//   cts sxp retry period SECONDS
//   cts sxp reconciliation period SECONDS
//   cts sxp delete-hold-down period SECONDS

import TaglineCore

/// The TCP-MD5 password of one SXP connection.
public enum SXPPasswordChoice: Equatable, Sendable {
    /// `password default`: the `cts sxp default password`.
    case useDefault
    /// `password none`: no TCP-MD5 signature.
    case none
    /// Tagline's extension: a key given on the connection line itself.
    case key(String)
}

/// One `cts sxp connection peer` line.
public struct SXPConnectionConfig: Equatable, Sendable {
    public var peer: IPAddress
    /// Local address to connect from and listen on; nil uses `cts sxp default source-ip`.
    public var source: IPAddress?
    public var password: SXPPasswordChoice
    /// True when this gateway is the speaker on the connection.
    public var localIsSpeaker: Bool
    /// Hold time in seconds: a minimum, and for a listener a maximum.
    public var holdTimeMinimum: Int?
    public var holdTimeMaximum: Int?

    public init(
        peer: IPAddress, source: IPAddress? = nil, password: SXPPasswordChoice,
        localIsSpeaker: Bool, holdTimeMinimum: Int? = nil, holdTimeMaximum: Int? = nil
    ) {
        self.peer = peer
        self.source = source
        self.password = password
        self.localIsSpeaker = localIsSpeaker
        self.holdTimeMinimum = holdTimeMinimum
        self.holdTimeMaximum = holdTimeMaximum
    }
}

/// The `cts sxp` settings.
public struct SXPConfiguration: Equatable, Sendable {
    public var enabled = false
    public var defaultPassword: String?
    public var defaultSourceIP: IPAddress?
    /// `cts sxp node-id`: the ID in our OPEN and peer sequences.
    public var nodeID: IPAddress?
    /// Seconds between attempts to open a connection that is down; 0 turns retries off.
    public var retryPeriod = 120
    /// Seconds a reconnected speaker has to announce a binding again before it is removed.
    public var reconciliationPeriod = 120
    /// Seconds the bindings of a lost connection are kept.
    public var deleteHoldDownPeriod = 120
    /// Connections by peer address, in file order; a later line for a peer replaces it.
    public var connections: [SXPConnectionConfig] = []

    public init() {}

    /// Returns the TCP-MD5 key of `connection`, or nil for none.
    public func password(for connection: SXPConnectionConfig) -> String? {
        switch connection.password {
        case .useDefault: return defaultPassword
        case .none: return nil
        case .key(let key): return key
        }
    }
}

extension ConfigParser {
    /// Periods in seconds that `cts sxp ... period` accepts, as on IOS.
    static let sxpPeriods = 0...64000
    /// TCP-MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN).
    static let sxpMaximumKeyLength = 80

    /// Applies one `cts sxp ...` line.
    mutating func applySXP(_ line: ConfigLine) throws -> CommandResult {
        let expected = [
            "enable", "default", "node-id", "connection", "retry", "reconciliation",
            "delete-hold-down",
        ]
        guard let word = line.keyword(2) else {
            throw ConfigLineError.incomplete("cts sxp", expected: expected)
        }
        switch word {
        case "enable":
            try requireEnd(line, 3)
            config.sxp.enabled = true
        case "default":
            try applySXPDefault(line)
        case "node-id":
            config.sxp.nodeID = try ipv4Address(line, 3, "SXP node ID")
            try requireEnd(line, 4)
        case "connection":
            try addSXPConnection(line)
        case "retry", "reconciliation", "delete-hold-down":
            guard line.keyword(3) == "period" else {
                throw ConfigLineError.incomplete("cts sxp \(word)", expected: ["period"])
            }
            let seconds = try integer(line, 4, "\(word) period", in: Self.sxpPeriods)
            try requireEnd(line, 5)
            switch word {
            case "retry": config.sxp.retryPeriod = seconds
            case "reconciliation": config.sxp.reconciliationPeriod = seconds
            default: config.sxp.deleteHoldDownPeriod = seconds
            }
        default:
            throw ConfigLineError.unknown(word, after: "cts sxp", expected: expected)
        }
        return .applied
    }

    private mutating func applySXPDefault(_ line: ConfigLine) throws {
        switch line.keyword(3) {
        case "password":
            var index = 4
            if let type = line.word(4), type.count == 1, type.first!.isNumber {
                // Type 6 and 7 are IOS's encrypted forms, which Tagline cannot read.
                guard type == "0" else {
                    throw ConfigLineError(
                        "password type \(type) is not supported; give the password in clear "
                            + "text (type 0)")
                }
                index = 5
            }
            let password = try sxpKey(line, index)
            try requireEnd(line, index + 1)
            config.sxp.defaultPassword = password
        case "source-ip":
            config.sxp.defaultSourceIP = try anyAddress(line, 4, "SXP source address")
            try requireEnd(line, 5)
        default:
            throw ConfigLineError.incomplete(
                "cts sxp default", expected: ["password", "source-ip"])
        }
    }

    private func sxpKey(_ line: ConfigLine, _ index: Int) throws -> String {
        let key = try requiredWord(line, index, "SXP password")
        guard key.utf8.count <= Self.sxpMaximumKeyLength else {
            throw ConfigLineError(
                "SXP password is \(key.utf8.count) bytes; TCP-MD5 allows at most "
                    + "\(Self.sxpMaximumKeyLength)")
        }
        return key
    }

    private mutating func addSXPConnection(_ line: ConfigLine) throws {
        guard line.keyword(3) == "peer" else {
            throw ConfigLineError.incomplete("cts sxp connection", expected: ["peer"])
        }
        let peer = try anyAddress(line, 4, "SXP peer address")
        var index = 5
        var source: IPAddress?
        if line.keyword(index) == "source" {
            source = try anyAddress(line, index + 1, "SXP source address")
            index += 2
        }

        guard line.keyword(index) == "password" else {
            throw ConfigLineError("missing 'password default|none|KEY' after the peer address")
        }
        let password: SXPPasswordChoice
        switch line.keyword(index + 1) {
        case "default": password = .useDefault
        case "none": password = .none
        default: password = .key(try sxpKey(line, index + 1))
        }
        index += 2

        guard line.keyword(index) == "mode" else {
            throw ConfigLineError("missing 'mode local speaker|listener' after the password")
        }
        let side = try requiredWord(line, index + 1, "mode (local or peer)").lowercased()
        // The role defaults to speaker, as on IOS.
        let role = line.word(index + 2)?.lowercased() ?? "speaker"
        guard ["local", "peer"].contains(side), ["speaker", "listener"].contains(role) else {
            throw ConfigLineError(
                "invalid mode '\(side) \(role)' (expected local|peer speaker|listener)")
        }
        // `mode peer listener` makes this gateway the speaker, as on IOS.
        let localIsSpeaker = (side == "local") == (role == "speaker")
        index += line.word(index + 2) == nil ? 2 : 3

        var minimum: Int?
        var maximum: Int?
        if line.keyword(index) == "hold-time" {
            minimum = try integer(line, index + 1, "hold-time minimum", in: 0...65534)
            index += 2
            if line.word(index) != nil {
                let value = try integer(line, index, "hold-time maximum", in: 0...65534)
                guard value >= minimum! else {
                    throw ConfigLineError(
                        "hold-time maximum \(value) is below the minimum \(minimum!)")
                }
                maximum = value
                index += 1
            }
        }
        try requireEnd(line, index)

        let connection = SXPConnectionConfig(
            peer: peer, source: source, password: password, localIsSpeaker: localIsSpeaker,
            holdTimeMinimum: minimum, holdTimeMaximum: maximum)
        config.sxp.connections.removeAll { $0.peer == peer }
        config.sxp.connections.append(connection)
    }
}
