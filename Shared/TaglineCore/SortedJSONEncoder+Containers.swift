// The keyed, unkeyed and single-value containers of SortedJSONEncoder. Each
// writes into the box of the object or array its encoder contains.

import Foundation

struct JSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: JSONObjectBox
    let codingPath: [CodingKey]

    private func put(_ node: JSONNode, _ key: Key) {
        box.insert(key.stringValue, node)
    }

    mutating func encodeNil(forKey key: Key) throws { put(.literal("null"), key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        put(.literal(value ? "true" : "false"), key)
    }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        put(try JSONScalar.double(value, codingPath), key)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        put(try JSONScalar.float(value, codingPath), key)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        put(.unsigned(UInt64(value)), key)
    }
    mutating func encode(_ value: UInt8, forKey key: Key) throws {
        put(.unsigned(UInt64(value)), key)
    }
    mutating func encode(_ value: UInt16, forKey key: Key) throws {
        put(.unsigned(UInt64(value)), key)
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        put(.unsigned(UInt64(value)), key)
    }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        put(.unsigned(UInt64(value)), key)
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        put(try JSONTreeEncoder.node(for: value, codingPath: codingPath), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONObjectBox()
        put(.object(nested), key)
        return KeyedEncodingContainer(
            JSONKeyedContainer<NestedKey>(box: nested, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let nested = JSONArrayBox()
        put(.array(nested), key)
        return JSONUnkeyedContainer(box: nested, codingPath: codingPath)
    }

    mutating func superEncoder() -> Encoder {
        superEncoder(forKeyString: "super")
    }

    mutating func superEncoder(forKey key: Key) -> Encoder {
        superEncoder(forKeyString: key.stringValue)
    }

    private func superEncoder(forKeyString key: String) -> Encoder {
        JSONSlotEncoder(codingPath: codingPath) { [box] node in box.insert(key, node) }
    }
}

struct JSONUnkeyedContainer: UnkeyedEncodingContainer {
    let box: JSONArrayBox
    let codingPath: [CodingKey]
    var count: Int { box.items.count }

    mutating func encodeNil() throws { box.items.append(.literal("null")) }
    mutating func encode(_ value: Bool) throws {
        box.items.append(.literal(value ? "true" : "false"))
    }
    mutating func encode(_ value: String) throws { box.items.append(.string(value)) }
    mutating func encode(_ value: Double) throws {
        box.items.append(try JSONScalar.double(value, codingPath))
    }
    mutating func encode(_ value: Float) throws {
        box.items.append(try JSONScalar.float(value, codingPath))
    }
    mutating func encode(_ value: Int) throws { box.items.append(.signed(Int64(value))) }
    mutating func encode(_ value: Int8) throws { box.items.append(.signed(Int64(value))) }
    mutating func encode(_ value: Int16) throws { box.items.append(.signed(Int64(value))) }
    mutating func encode(_ value: Int32) throws { box.items.append(.signed(Int64(value))) }
    mutating func encode(_ value: Int64) throws { box.items.append(.signed(Int64(value))) }
    mutating func encode(_ value: UInt) throws { box.items.append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { box.items.append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { box.items.append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { box.items.append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { box.items.append(.unsigned(UInt64(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try JSONTreeEncoder.node(for: value, codingPath: codingPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = JSONObjectBox()
        box.items.append(.object(nested))
        return KeyedEncodingContainer(
            JSONKeyedContainer<NestedKey>(box: nested, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let nested = JSONArrayBox()
        box.items.append(.array(nested))
        return JSONUnkeyedContainer(box: nested, codingPath: codingPath)
    }

    mutating func superEncoder() -> Encoder {
        JSONSlotEncoder(codingPath: codingPath) { [box] node in box.items.append(node) }
    }
}

struct JSONSingleValueContainer: SingleValueEncodingContainer {
    let encoder: JSONTreeEncoder
    var codingPath: [CodingKey] { encoder.codingPath }

    private func set(_ node: JSONNode) { encoder.node = node }

    mutating func encodeNil() throws { set(.literal("null")) }
    mutating func encode(_ value: Bool) throws { set(.literal(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { set(.string(value)) }
    mutating func encode(_ value: Double) throws { set(try JSONScalar.double(value, codingPath)) }
    mutating func encode(_ value: Float) throws { set(try JSONScalar.float(value, codingPath)) }
    mutating func encode(_ value: Int) throws { set(.signed(Int64(value))) }
    mutating func encode(_ value: Int8) throws { set(.signed(Int64(value))) }
    mutating func encode(_ value: Int16) throws { set(.signed(Int64(value))) }
    mutating func encode(_ value: Int32) throws { set(.signed(Int64(value))) }
    mutating func encode(_ value: Int64) throws { set(.signed(Int64(value))) }
    mutating func encode(_ value: UInt) throws { set(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { set(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { set(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { set(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { set(.unsigned(UInt64(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        set(try JSONTreeEncoder.node(for: value, codingPath: codingPath))
    }
}

/// The encoder a `superEncoder()` call returns: it hands the value it
/// encoded to its parent container when it is released, as Foundation's does.
final class JSONSlotEncoder: Encoder {
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    private let inner: JSONTreeEncoder
    private let store: (JSONNode) -> Void

    init(codingPath: [CodingKey], store: @escaping (JSONNode) -> Void) {
        self.codingPath = codingPath
        self.inner = JSONTreeEncoder(codingPath: codingPath)
        self.store = store
    }

    deinit { store(inner.node ?? .object(JSONObjectBox())) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        inner.container(keyedBy: type)
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer { inner.unkeyedContainer() }

    func singleValueContainer() -> SingleValueEncodingContainer {
        inner.singleValueContainer()
    }
}
