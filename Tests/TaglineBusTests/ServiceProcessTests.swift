// sa-manager and cts-binding-store as real processes: requests, clone sync,
// and everything still there after a SIGKILL and a restart.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class ServiceProcessTests: XCTestCase {
    var runDirectory = ""
    var stateDirectory = ""
    var configPath = ""

    override func setUp() {
        runDirectory = makeRunDirectory()
        stateDirectory = makeRunDirectory()
        configPath = stateDirectory + "/gateway.cfg"
        writeConfig("hostname gw1\ncts role-based sgt-map 192.0.2.0/24 sgt 10\nend\n")
    }

    override func tearDown() {
        removeDirectory(runDirectory)
        removeDirectory(stateDirectory)
    }

    private func writeConfig(_ text: String) {
        FileManager.default.createFile(atPath: configPath, contents: Data(text.utf8))
    }

    private func start(_ service: ServiceName) throws -> ServiceProcess {
        try ServiceProcess(
            service,
            arguments: [
                "--config", configPath,
                "--state-dir", stateDirectory + "/state",
            ],
            runDirectory: runDirectory)
    }

    func testSAManagerSurvivesSIGKILL() throws {
        var manager = try start(.saManager)
        let client = try BusClient(service: .saManager, runDirectory: runDirectory, sender: "test")

        // ike-negotiator's part: allocate an SPI and install the SA.
        let spi = try client.request(
            MessageType.spiAllocate, SPIAllocateRequest(),
            as: SPIAllocateReply.self
        ).spi
        XCTAssertGreaterThanOrEqual(spi, 256)
        let childSA = makeChildSA(inboundSPI: spi, installedAt: wallClockSeconds())
        _ = try client.request(
            MessageType.childInstall, ChildSAInstallRequest(childSA: childSA),
            as: EmptyReply.self)
        var broken = makeChildSA(inboundSPI: spi &+ 1)
        broken.inboundKeys = ChildSAKeys(encryptionKey: [1, 2, 3], integrityKey: [])
        XCTAssertThrowsError(
            try client.request(
                MessageType.childInstall, ChildSAInstallRequest(childSA: broken),
                as: EmptyReply.self)
        ) { XCTAssertTrue("\($0)".contains("encryption key has 3 bytes, expected 16"), "\($0)") }

        // The dataplane's part: lease sequence numbers, clone the SAD, report counters.
        let lease = try client.request(
            MessageType.sequenceLease,
            SequenceLeaseRequest(inboundSPI: spi, count: 1 << 20),
            as: SequenceLeaseReply.self)
        XCTAssertEqual(lease.first, 1)
        XCTAssertEqual(lease.count, 1 << 20)

        let loop = EventLoop(handlesSignals: false)
        let dataplane = try ServiceBus(
            service: .dataplane, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("dataplane-tagger"))
        defer { dataplane.shutdown() }
        let sad: CloneClient<ChildSA> = dataplane.cloneClient(
            from: .saManager, updateType: MessageType.childUpdate,
            snapshotType: MessageType.childSnapshot, onSnapshot: { _ in }, onUpdate: { _, _ in })
        XCTAssertTrue(spin(loop) { sad.items[String(spi)] != nil })
        XCTAssertEqual(sad.items[String(spi)], childSA)

        func encaps() throws -> UInt64? {
            let list = try client.request(
                MessageType.childList, EmptyRequest(),
                as: ChildSAListReply.self)
            return list.childSAs.first { $0.childSA.inboundSPI == spi }?.counters.encaps
        }
        func report(_ value: UInt64, started: Double) -> CounterReport {
            var counters = SACounters()
            counters.encaps = value
            return CounterReport(
                counters: [String(spi): counters], drops: [:],
                dataplaneStartedAt: started)
        }
        XCTAssertTrue(
            spin(loop) {
                dataplane.publish(MessageType.counterReport, report(5, started: 1000))
                return (try? encaps()) == 5
            })

        // SIGKILL and restart: the SA, its counters and its lease are still there.
        let firstEpoch = sad.epoch
        manager.stop()
        manager = try start(.saManager)
        XCTAssertEqual(try encaps(), 5)
        let second = try client.request(
            MessageType.sequenceLease,
            SequenceLeaseRequest(inboundSPI: spi, count: 10),
            as: SequenceLeaseReply.self)
        XCTAssertEqual(second.first, 1 + (1 << 20))
        XCTAssertTrue(spin(loop) { sad.epoch != firstEpoch && sad.isSynchronized })
        XCTAssertTrue(sad.isSynchronized)
        XCTAssertNotEqual(sad.epoch, firstEpoch)
        XCTAssertEqual(sad.items[String(spi)], childSA)

        // A restarted dataplane counts from zero again; the totals keep growing.
        XCTAssertTrue(
            spin(loop) {
                dataplane.publish(MessageType.counterReport, report(3, started: 2000))
                return (try? encaps()) == 8
            })

        // Delete: gone from the list and from the clone.
        _ = try client.request(
            MessageType.childDelete, ChildSADeleteRequest(inboundSPI: spi),
            as: EmptyReply.self)
        XCTAssertNil(try encaps())
        XCTAssertTrue(spin(loop) { sad.items.isEmpty })
        XCTAssertThrowsError(
            try client.request(
                MessageType.childDelete, ChildSADeleteRequest(inboundSPI: spi),
                as: EmptyReply.self))
    }

    func testBindingStoreSurvivesSIGKILLAndReloads() throws {
        var store = try start(.bindingStore)
        let client = try BusClient(
            service: .bindingStore, runDirectory: runDirectory,
            sender: "test")
        func lookup(_ address: String) throws -> SGTBinding? {
            try client.request(
                MessageType.bindingLookup,
                BindingLookupRequest(address: IPAddress(address)!),
                as: BindingLookupReply.self
            ).binding
        }
        XCTAssertEqual(try lookup("192.0.2.11")?.sgt.value, 10)

        // An API binding for the same prefix is kept but loses to the configuration.
        let prefix = IPPrefix("192.0.2.0/24")!
        _ = try client.request(
            MessageType.bindingAdd,
            BindingChangeRequest(prefix: prefix, sgt: SGT(50), source: .api),
            as: EmptyReply.self)
        _ = try client.request(
            MessageType.bindingAdd,
            BindingChangeRequest(
                prefix: IPPrefix("192.0.2.10/32")!,
                sgt: SGT(20), source: .api),
            as: EmptyReply.self)
        XCTAssertEqual(try lookup("192.0.2.11")?.source, .config)
        XCTAssertEqual(try lookup("192.0.2.10")?.sgt.value, 20)
        XCTAssertThrowsError(
            try client.request(
                MessageType.bindingAdd,
                BindingChangeRequest(prefix: prefix, sgt: SGT(5), source: .config),
                as: EmptyReply.self))

        let loop = EventLoop(handlesSignals: false)
        let dataplane = try ServiceBus(
            service: .dataplane, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("dataplane-tagger"))
        defer { dataplane.shutdown() }
        let bindings: CloneClient<SGTBinding> = dataplane.cloneClient(
            from: .bindingStore, updateType: MessageType.bindingUpdate,
            snapshotType: MessageType.bindingSnapshot, onSnapshot: { _ in }, onUpdate: { _, _ in })
        XCTAssertTrue(spin(loop) { bindings.items.count == 2 })

        // SIGKILL and restart: the acknowledged API bindings are still there.
        store.stop()
        store = try start(.bindingStore)
        XCTAssertEqual(try lookup("192.0.2.10")?.sgt.value, 20)

        // The configuration drops its binding and SIGHUP reloads it: API takes over.
        writeConfig("hostname gw1\nend\n")
        // SIGTERM stops the service cleanly, with exit status 0.
        store.stop(SIGTERM)
        XCTAssertEqual(store.process.terminationStatus, 0)
        store = try start(.bindingStore)
        XCTAssertEqual(try lookup("192.0.2.11")?.source, .api)
        XCTAssertEqual(try lookup("192.0.2.11")?.sgt.value, 50)

        writeConfig("hostname gw1\ncts role-based sgt-map 192.0.2.0/24 sgt 11\nend\n")
        kill(store.process.processIdentifier, SIGHUP)
        var reloaded = false
        for _ in 0..<50 where !reloaded {
            reloaded = (try? lookup("192.0.2.11"))??.sgt.value == 11
            if !reloaded { usleep(20_000) }
        }
        XCTAssertTrue(reloaded)
        XCTAssertTrue(spin(loop) { bindings.items["192.0.2.0/24"]?.sgt.value == 11 })
        _ = try client.request(
            MessageType.bindingDelete,
            BindingChangeRequest(
                prefix: IPPrefix("192.0.2.10/32")!, sgt: nil,
                source: .api),
            as: EmptyReply.self)
        XCTAssertEqual(try lookup("192.0.2.10")?.sgt.value, 11)
        XCTAssertTrue(spin(loop) { bindings.items["192.0.2.10/32"] == nil })
    }
}
