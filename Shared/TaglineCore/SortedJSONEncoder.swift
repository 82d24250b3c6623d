// A JSON encoder for the bus bodies and stored rows on the hot path. It
// writes what Foundation's JSONEncoder writes with `.sortedKeys` and
// `.withoutEscapingSlashes` and its default strategies, so JSONDecoder reads
// its output and rows written before it existed load unchanged. In profiles,
// Foundation's encoder took about a fifth of the negotiator's time, much of
// it in dynamic casts and boxing. This one builds a small tree of objects
// and arrays and writes it out once.
//
// Keys are sorted by their UTF-8 bytes. Coding paths are not tracked: every
// container reports an empty one, which only the error for a non-finite
// number would show. Data becomes base64, as with Foundation. No Tagline
// type carries Date, URL or Decimal, which it does not treat specially.
// Non-finite floating-point values throw, as with Foundation's default strategy.

import Foundation

/// Encodes `Encodable` values as compact JSON with sorted keys.
public struct SortedJSONEncoder {
    public init() {}

    /// Returns the JSON text of `value` as UTF-8 bytes.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let node = try JSONTreeEncoder.node(for: value, codingPath: [])
        var output: [UInt8] = []
        output.reserveCapacity(512)
        node.write(to: &output)
        return output
    }
}

/// One encoded value. Objects and arrays are boxes, because containers
/// handed out by an encoder are filled after they are created.
enum JSONNode {
    /// A number, `true`, `false` or `null`, already as text.
    case literal(String)
    case signed(Int64)
    case unsigned(UInt64)
    case string(String)
    case array(JSONArrayBox)
    case object(JSONObjectBox)

    func write(to output: inout [UInt8]) {
        switch self {
        case .literal(let text):
            output.append(contentsOf: text.utf8)
        case .signed(let value):
            if value < 0 { output.append(UInt8(ascii: "-")) }
            JSONNode.writeDigits(value.magnitude, to: &output)
        case .unsigned(let value):
            JSONNode.writeDigits(value, to: &output)
        case .string(let text):
            JSONNode.writeString(text, to: &output)
        case .array(let box):
            output.append(UInt8(ascii: "["))
            for (index, item) in box.items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                item.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let box):
            output.append(UInt8(ascii: "{"))
            var first = true
            for entry in box.entries {
                if !first { output.append(UInt8(ascii: ",")) }
                first = false
                JSONNode.writeString(entry.key, to: &output)
                output.append(UInt8(ascii: ":"))
                entry.value.write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Writes `value` in decimal without building a String first.
    static func writeDigits(_ value: UInt64, to output: inout [UInt8]) {
        guard value >= 10 else {
            output.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) {
                output.append(buffer[index])
            }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Writes a quoted string, escaping quotes, backslashes and control
    /// characters as Foundation does; "/" and non-ASCII stay as they are.
    static func writeString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            // Bytes that need no escape are copied in runs, not one by one.
            var runStart = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == 34 || byte == 92 {
                output.append(contentsOf: bytes[runStart..<index])
                runStart = index + 1
                writeEscape(byte, to: &output)
            }
            output.append(contentsOf: bytes[runStart..<bytes.count])
        }
        output.append(UInt8(ascii: "\""))
    }

    private static func writeEscape(_ byte: UInt8, to output: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): output.append(contentsOf: [92, 34])
        case UInt8(ascii: "\\"): output.append(contentsOf: [92, 92])
        case 0x08: output.append(contentsOf: [92, UInt8(ascii: "b")])
        case 0x0C: output.append(contentsOf: [92, UInt8(ascii: "f")])
        case 0x0A: output.append(contentsOf: [92, UInt8(ascii: "n")])
        case 0x0D: output.append(contentsOf: [92, UInt8(ascii: "r")])
        case 0x09: output.append(contentsOf: [92, UInt8(ascii: "t")])
        default:
            output.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48])
            output.append(hexDigits[Int(byte >> 4)])
            output.append(hexDigits[Int(byte & 0x0F)])
        }
    }
}

final class JSONArrayBox {
    var items: [JSONNode] = []
}

/// The entries of an object. Small objects, such as those of structs, keep
/// them sorted as they are written. Large ones, such as big dictionaries,
/// are sorted once at the end, because inserting would cost quadratic time.
final class JSONObjectBox {
    /// Objects up to this many entries are kept sorted while written.
    static let insertionLimit = 32
    private var storage: [(key: String, value: JSONNode)] = []
    private var isSorted = true

    /// Adds an entry. A key written again replaces its value, as with Foundation.
    func insert(_ key: String, _ value: JSONNode) {
        guard isSorted, storage.count < JSONObjectBox.insertionLimit else {
            storage.append((key, value))
            isSorted = false
            return
        }
        var index = storage.count
        while index > 0 {
            let before = storage[index - 1].key
            if before == key {
                storage[index - 1].value = value
                return
            }
            guard key.utf8.lexicographicallyPrecedes(before.utf8) else { break }
            index -= 1
        }
        storage.insert((key, value), at: index)
    }

    /// Returns the entries sorted by key, with one entry per key.
    var entries: [(key: String, value: JSONNode)] {
        if isSorted { return storage }
        // Of equal keys, the one written last is kept.
        let ordered = storage.enumerated().sorted {
            if $0.element.key == $1.element.key { return $0.offset < $1.offset }
            return $0.element.key.utf8.lexicographicallyPrecedes($1.element.key.utf8)
        }
        var result: [(key: String, value: JSONNode)] = []
        result.reserveCapacity(ordered.count)
        for entry in ordered.map(\.element) {
            if let last = result.last, last.key == entry.key {
                result[result.count - 1] = entry
            } else {
                result.append(entry)
            }
        }
        return result
    }
}

/// The `Encoder` handed to `encode(to:)`. It contains the one value its
/// caller encodes: an object, an array or a single value.
final class JSONTreeEncoder: Encoder {
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: JSONNode?

    init(codingPath: [CodingKey]) {
        self.codingPath = codingPath
    }

    /// Encodes `value` on its own; an encoder that wrote nothing gives `{}`, as Foundation's does.
    static func node<T: Encodable>(for value: T, codingPath: [CodingKey]) throws -> JSONNode {
        // Comparing the types first keeps the costly cast off every other value.
        if T.self == Data.self, let data = value as? Data {
            return .string(data.base64EncodedString())
        }
        let encoder = JSONTreeEncoder(codingPath: codingPath)
        try value.encode(to: encoder)
        return encoder.node ?? .object(JSONObjectBox())
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: JSONObjectBox
        if case .object(let existing) = node {
            box = existing
        } else {
            box = JSONObjectBox()
            node = .object(box)
        }
        return KeyedEncodingContainer(JSONKeyedContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        let box: JSONArrayBox
        if case .array(let existing) = node {
            box = existing
        } else {
            box = JSONArrayBox()
            node = .array(box)
        }
        return JSONUnkeyedContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        JSONSingleValueContainer(encoder: self)
    }
}

/// Text of the scalars JSON carries, shared by the three container kinds.
enum JSONScalar {
    static func double(_ value: Double, _ path: [CodingKey]) throws -> JSONNode {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: path, debugDescription: "\(value) is not valid JSON"))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .literal(text)
    }

    static func float(_ value: Float, _ path: [CodingKey]) throws -> JSONNode {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: path, debugDescription: "\(value) is not valid JSON"))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .literal(text)
    }
}
