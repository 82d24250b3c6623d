import Foundation
import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Two worker threads send packets from eight inside hosts through gw1's pipeline while the
/// test thread, as the control thread, makes 20,000 binding changes paced at 20,000 a second
/// and publishes SA tables. No packet may be dropped, and each must carry one of the two
/// SGTs its source flips between. The pace is a target, not a check: a loaded machine
/// stretches the run instead of failing it.
final class TableChurnTests: XCTestCase {
    static let workerCount = 2
    static let hostCount = 8
    static let totalChanges = 20_000
    static let changesPerSecond = 20_000.0

    /// Host `index` is 192.0.2.(10 + index); its binding flips between SGT 100 + index
    /// and 200 + index.
    static func host(_ index: Int) -> IPAddress { IPAddress("192.0.2.\(10 + index)")! }
    static func sgts(_ index: Int) -> Set<UInt16> { [UInt16(100 + index), UInt16(200 + index)] }

    /// What one worker saw: packets sent, verdicts other than one forwarded frame, and
    /// the SGTs per host.
    private final class WorkerResult: @unchecked Sendable {
        var packets = 0
        var failures: [String] = []
        var seen: [Set<UInt16>] = Array(repeating: [], count: TableChurnTests.hostCount)
    }

    func testBindingChurn() throws {
        let pair = Lab.saPair(encryption: .null, integrity: .hmacSHA1_96)
        let context = DataplaneContext(
            workerCount: TableChurnTests.workerCount, forwarding: Lab.forwarding(gw1: true))
        let state = try SAState(childSA: pair.gw1, workerCount: TableChurnTests.workerCount)
        state.sequence.grant(SequenceLease(first: 1, count: 1 << 40))
        // A second SA for other selectors comes and goes, as rekeys of other peers do.
        var other = Lab.saPair(encryption: .null, integrity: .hmacSHA1_96).gw1
        other.inboundSPI = 0x3000_0003
        other.remoteSelectors = [TrafficSelector(prefix: IPPrefix("198.51.100.0/24")!)]
        let otherState = try SAState(childSA: other, workerCount: TableChurnTests.workerCount)
        context.saTable.publish(SATable(states: [state]))

        let publisher = BindingPublisher(slot: context.bindingTable)
        publisher.replaceAll(
            (0..<TableChurnTests.hostCount).map {
                SGTBinding(
                    prefix: IPPrefix(covering: TableChurnTests.host($0), length: 32),
                    sgt: SGT(UInt16(100 + $0))!, source: .api)
            })

        let frames = (0..<TableChurnTests.hostCount).map {
            Lab.fromHostA(Lab.ipv4UDP(source: TableChurnTests.host($0)))
        }
        let stop = StopFlag()
        let results = (0..<TableChurnTests.workerCount).map { _ in WorkerResult() }
        let finished = DispatchGroup()
        for worker in 0..<TableChurnTests.workerCount {
            finished.enter()
            let thread = Thread {
                TableChurnTests.runWorker(
                    worker, context: context, frames: frames, result: results[worker],
                    stop: stop)
                finished.leave()
            }
            thread.start()
        }

        var changes = 0
        var saPublications = 0
        var flip = [Bool](repeating: false, count: TableChurnTests.hostCount)
        let start = monotonicNanoseconds()
        while true {
            let elapsed = Double(monotonicNanoseconds() - start) / 1e9
            if changes >= TableChurnTests.totalChanges { break }
            // Host bindings flip; 2001:db8:400::/128 bindings come and go around them.
            while Double(changes) < elapsed * TableChurnTests.changesPerSecond,
                changes < TableChurnTests.totalChanges
            {
                let index = changes % (TableChurnTests.hostCount * 4)
                if index < TableChurnTests.hostCount {
                    flip[index].toggle()
                    let sgt = UInt16((flip[index] ? 200 : 100) + index)
                    let prefix = IPPrefix(covering: TableChurnTests.host(index), length: 32)
                    publisher.stage(
                        prefix, SGTBinding(prefix: prefix, sgt: SGT(sgt)!, source: .api))
                } else {
                    let address = IPAddress("2001:db8:400::\(String(changes % 4096, radix: 16))")!
                    let prefix = IPPrefix(covering: address, length: 128)
                    let binding =
                        changes % 3 == 0
                        ? nil : SGTBinding(prefix: prefix, sgt: SGT(50)!, source: .api)
                    publisher.stage(prefix, binding)
                }
                changes += 1
            }
            publisher.publishIfDue()
            if changes / 500 > saPublications {
                saPublications += 1
                let states = saPublications % 2 == 0 ? [state] : [otherState, state]
                context.saTable.publish(SATable(states: states))
            }
            context.epochs.reclaim()
            usleep(100)
        }
        publisher.flush()
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        stop.set()
        finished.wait()

        XCTAssertEqual(
            publisher.publishedChanges, TableChurnTests.totalChanges + 1, "and the first table")
        print("binding churn: \(Int(Double(changes) / elapsed)) changes/s over \(elapsed) s")
        XCTAssertGreaterThan(publisher.publications, 20, "changes went out in many tables")
        XCTAssertEqual(context.epochs.reclaim(), 0, "every retired table was freed")
        XCTAssertEqual(context.dropTotals().values.reduce(0, +), 0)
        let counters = state.counters.snapshot()
        XCTAssertEqual(counters.encapsFailed, 0)
        XCTAssertEqual(counters.notTagged, 0, "every packet found a binding")
        XCTAssertEqual(counters.tagged, UInt64(results.reduce(0) { $0 + $1.packets }))
        for result in results {
            XCTAssertGreaterThan(result.packets, 1000)
            XCTAssertEqual(result.failures.prefix(5), [])
        }
        for index in 0..<TableChurnTests.hostCount {
            let seen = results.reduce(into: Set<UInt16>()) { $0.formUnion($1.seen[index]) }
            XCTAssertEqual(seen, TableChurnTests.sgts(index), "host \(index) saw both SGTs only")
        }
    }

    /// Sends bursts of one frame per host inside the worker's epoch and checks each frame
    /// that leaves. With NULL encryption the CMD follows Ethernet 14, IPv4 20 and ESP 8
    /// bytes in clear, so the SGT is at 46 and the inner source address at 62.
    private static func runWorker(
        _ worker: Int, context: DataplaneContext, frames: [[UInt8]], result: WorkerResult,
        stop: StopFlag
    ) {
        let pipeline = Pipeline(worker: worker, context: context)
        let sink = MemorySink(capacity: frames.count)
        while !stop.isSet {
            context.epochs.enter(worker: worker)
            for (index, frame) in frames.enumerated() {
                let verdict = pipeline.inside(frame, sink: sink)
                if verdict != .forwarded(frames: 1) {
                    result.failures.append("host \(index): \(verdict)")
                }
            }
            context.epochs.leave(worker: worker)
            for (index, out) in sink.frames.enumerated() {
                result.packets += 1
                guard out.count > 66, out[42] == 1, out[45] == 1 else {
                    result.failures.append("host \(index): no CMD in \(out.count) bytes")
                    continue
                }
                let sgt = UInt16(out[46]) << 8 | UInt16(out[47])
                let source = Array(out[62..<66])
                guard let host = frames.firstIndex(where: { Array($0[26..<30]) == source })
                else {
                    result.failures.append("unknown inner source \(source)")
                    continue
                }
                if !TableChurnTests.sgts(host).contains(sgt) {
                    result.failures.append("host \(host) carried SGT \(sgt)")
                }
                result.seen[host].insert(sgt)
            }
            sink.removeAll()
        }
    }
}
