// Sequence numbers and anti-replay: the IOS line that sizes the replay
// window, and Tagline's extension line that offers extended sequence numbers.

import TaglineCore

extension ConfigParser {
    /// `crypto ipsec security-association replay window-size N`, as on IOS, in packets.
    /// `replay disable` is rejected, because the dataplane always checks for replays.
    mutating func setReplayWindow(_ line: ConfigLine) throws -> CommandResult {
        let command = "crypto ipsec security-association replay"
        guard let word = line.word(4) else {
            throw ConfigLineError.incomplete(command, expected: ["window-size"])
        }
        switch word.lowercased() {
        case "window-size":
            let range = GatewayConfig.replayWindowSizes
            let size = try integer(line, 5, "replay window size", in: range)
            try requireEnd(line, 6)
            config.replayWindowSize = size
            return .applied
        case "disable":
            throw ConfigLineError(
                "\(command) disable is not supported because anti-replay checking always "
                    + "stays on. Remove the line or set a window-size instead")
        default:
            throw ConfigLineError.unknown(word, after: command, expected: ["window-size"])
        }
    }

    /// `crypto ipsec esn`, Tagline's own extension: offer and prefer extended sequence
    /// numbers (RFC 4303 §2.2.1) in the Child SAs negotiated afterwards.
    mutating func setExtendedSequenceNumbers(_ line: ConfigLine) throws -> CommandResult {
        try requireEnd(line, 3)
        config.extendedSequenceNumbers = true
        return .applied
    }
}
