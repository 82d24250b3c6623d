// The bus envelope: every request, reply and event is one ZeroMQ multipart
// message of seven frames, all UTF-8 text except the body.
//
//   frame 0  type        message type, such as "sa.child.install" or
//                        "sa.child.install.reply"; on PUB sockets it is also
//                        the subscription topic
//   frame 1  message id  16 lowercase hex digits, random per message
//   frame 2  trace id    16 hex digits shared by every message caused by one
//                        operation (a CLI command, a packet acquire)
//   frame 3  parent id   message id of the message that caused this one;
//                        empty for a root. A reply carries its request's id.
//   frame 4  sender      service name, "tagline" for the CLI
//   frame 5  timestamp   nanoseconds since the Unix epoch, decimal text
//   frame 6  body        JSON with sorted keys, "{}" when empty
//
// DEALER to ROUTER: the ROUTER receives one extra identity frame in front,
// and sends its reply with that identity frame in front. No empty delimiter frame.
// PUB to SUB: exactly the seven frames.
// Trace mirror (XPUB): "send" or "recv", the peer, then the seven frames.

import Foundation
import TaglineCore

/// One bus message.
public struct Envelope: Sendable {
    public var type: String
    public var messageID: String
    public var traceID: String
    /// Message id of the message that caused this one; empty for a root.
    public var parentID: String
    public var sender: String
    /// Wall-clock nanoseconds since the Unix epoch when the message was created.
    public var timestampNanos: UInt64
    /// JSON body.
    public var body: [UInt8]

    /// Number of frames in an encoded envelope.
    public static let frameCount = 7

    public init(
        type: String, messageID: String = Envelope.newID(), traceID: String,
        parentID: String = "", sender: String,
        timestampNanos: UInt64 = Envelope.nowNanos(), body: [UInt8]
    ) {
        self.type = type
        self.messageID = messageID
        self.traceID = traceID
        self.parentID = parentID
        self.sender = sender
        self.timestampNanos = timestampNanos
        self.body = body
    }

    /// Creates an envelope with `value` encoded as its JSON body.
    public init<T: Encodable>(
        type: String, encoding value: T, traceID: String,
        parentID: String = "", sender: String
    ) throws {
        self.init(
            type: type, traceID: traceID, parentID: parentID, sender: sender,
            body: try Envelope.encodeBody(value))
    }

    /// Decodes the JSON body as `T`; throws `BusError.decode` naming the type.
    public func decode<T: Decodable>(_: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw BusError.decode("body of \(type) is not a valid \(T.self): \(error)")
        }
    }

    /// The seven frames in wire order.
    public var frames: [[UInt8]] {
        [
            Array(type.utf8), Array(messageID.utf8), Array(traceID.utf8), Array(parentID.utf8),
            Array(sender.utf8), Array(String(timestampNanos).utf8), body,
        ]
    }

    /// Parses exactly seven frames; throws `BusError.decode` naming the bad frame.
    public init<C: Collection>(frames: C) throws where C.Element == [UInt8] {
        let list = Array(frames)
        guard list.count == Envelope.frameCount else {
            throw BusError.decode("envelope has \(list.count) frames, expected 7")
        }
        func text(_ index: Int, _ name: String) throws -> String {
            guard let value = String(validating: list[index], as: UTF8.self) else {
                throw BusError.decode("envelope frame \(index) (\(name)) is not UTF-8")
            }
            return value
        }
        type = try text(0, "type")
        messageID = try text(1, "message id")
        traceID = try text(2, "trace id")
        parentID = try text(3, "parent id")
        sender = try text(4, "sender")
        let stamp = try text(5, "timestamp")
        guard let nanos = UInt64(stamp) else {
            throw BusError.decode("envelope frame 5 (timestamp) is not a decimal integer: \(stamp)")
        }
        timestampNanos = nanos
        body = list[6]
    }

    /// Returns a random 64-bit id as 16 lowercase hex digits.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Wall-clock nanoseconds since the Unix epoch.
    public static func nowNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// Encodes a body as JSON, keys sorted so traces are stable and slashes
    /// unescaped so prefixes read as "192.0.2.0/24": the text Foundation's
    /// JSONEncoder writes with these options, in a fraction of its time.
    public static func encodeBody<T: Encodable>(_ value: T) throws -> [UInt8] {
        do {
            return try SortedJSONEncoder().encode(value)
        } catch {
            throw BusError.decode("cannot encode \(T.self) as JSON: \(error)")
        }
    }
}
