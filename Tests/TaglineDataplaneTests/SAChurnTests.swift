// Rekeys under traffic with borrowed SA references. Worker threads encrypt and
// decrypt through gw1 while the test thread, as the control thread, publishes
// SA tables whose SAState objects are new each time, as a rekey makes them,
// and drops the old ones. Like DataplaneWorker, a worker reads the tables once
// per burst and the packet path borrows SAs and transforms from them without a
// retain. An SA freed while a worker still reads it shows up as a crash, an
// AddressSanitizer report or a wrong verdict.

import CTaglineShim
import TaglineCore
import XCTest

@testable import TaglineDataplane

final class SAChurnTests: XCTestCase {
    static let workerCount = 3
    static let publications = 3000

    private final class WorkerResult: @unchecked Sendable {
        var bursts = 0
        var decrypted = 0
        var failures: [String] = []
    }

    func testRekeyChurnCBC() throws { try churn(encryption: .aesCBC128, integrity: .hmacSHA1_96) }

    func testRekeyChurnGCM() throws { try churn(encryption: .aesGCM128, integrity: nil) }

    private func churn(encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?) throws {
        let pair = Lab.saPair(encryption: encryption, integrity: integrity)
        let context = DataplaneContext(
            workerCount: SAChurnTests.workerCount, forwarding: Lab.forwarding(gw1: true))
        func freshState() throws -> SAState {
            let state = try SAState(childSA: pair.gw1, workerCount: SAChurnTests.workerCount)
            state.sequence.grant(SequenceLease(first: 1, count: 1 << 40))
            return state
        }
        var current = try freshState()
        context.saTable.publish(SATable(states: [current]))

        // ESP from gw2 to gw1, sealed once. Each new SAState has a fresh replay window.
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let wire = MemorySink(capacity: 64)
        for port in 0..<64 {
            var packet = Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA)
            packet[20] = UInt8(port)
            let frame = Lab.ethernet(
                destination: Lab.gw2InsideMAC, source: Lab.hostBMAC, type: 0x0800, packet)
            XCTAssertEqual(gw2.inside(frame, sink: wire), .forwarded(frames: 1))
        }
        let inbound = wire.frames
        let outbound = (0..<8).map { flow -> [UInt8] in
            var packet = Lab.ipv4UDP()
            packet[21] = UInt8(flow)
            return Lab.fromHostA(packet)
        }

        let stop = StopFlag()
        let results = (0..<SAChurnTests.workerCount).map { _ in WorkerResult() }
        let finished = DispatchGroup()
        for worker in 0..<SAChurnTests.workerCount {
            finished.enter()
            Thread {
                SAChurnTests.runWorker(
                    worker, context: context, outbound: outbound, inbound: inbound,
                    result: results[worker], stop: stop)
                finished.leave()
            }.start()
        }

        // Every publication is a rekey: a new state, for one table alongside the old one, then
        // alone. The test keeps no reference to the old state.
        for publication in 0..<SAChurnTests.publications {
            let next = try freshState()
            let states = publication % 2 == 0 ? [current, next] : [next]
            context.saTable.publish(SATable(states: states))
            if publication % 2 == 1 { current = next }
            context.epochs.reclaim()
            if publication % 64 == 0 { usleep(200) }
        }
        stop.set()
        finished.wait()

        XCTAssertEqual(context.epochs.reclaim(), 0, "every retired table was freed")
        for (worker, result) in results.enumerated() {
            XCTAssertGreaterThan(result.bursts, 10, "worker \(worker)")
            XCTAssertGreaterThan(result.decrypted, 0, "worker \(worker)")
            XCTAssertEqual(result.failures.prefix(5), [], "worker \(worker)")
        }
    }

    /// Sends all outbound flows and a rotating slice of the inbound frames per burst. Each
    /// outbound packet must leave as one ESP frame, and each inbound one must be delivered
    /// or, when this SA already saw it, dropped as a replay.
    private static func runWorker(
        _ worker: Int, context: DataplaneContext, outbound: [[UInt8]], inbound: [[UInt8]],
        result: WorkerResult, stop: StopFlag
    ) {
        let pipeline = Pipeline(worker: worker, context: context)
        let sink = MemorySink(capacity: outbound.count)
        let host = MemorySink(capacity: inbound.count)
        var next = worker * 7
        while !stop.isSet {
            context.epochs.enter(worker: worker)
            let tables = context.currentTables()
            for frame in outbound {
                let verdict = frame.withUnsafeBytes {
                    pipeline.processInside($0, tables: tables, sink: sink, replySink: sink)
                }
                if verdict != .forwarded(frames: 1) { result.failures.append("out: \(verdict)") }
            }
            for _ in 0..<8 {
                let verdict = inbound[next % inbound.count].withUnsafeBytes {
                    pipeline.processOutside($0, tables: tables, sink: host, replySink: sink)
                }
                next += 1
                switch verdict {
                case .forwarded(frames: 1): result.decrypted += 1
                case .dropped(.replay): break
                default: result.failures.append("in: \(verdict)")
                }
            }
            context.epochs.leave(worker: worker)
            if sink.frames.count != outbound.count {
                result.failures.append("\(sink.frames.count) frames left")
            }
            sink.removeAll()
            host.removeAll()
            result.bursts += 1
        }
    }
}
