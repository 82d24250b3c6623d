// The `tagline` show commands against services that return fixed replies:
// the IOS layouts, --json without key material, --wireshark with it, and the
// message when a service is down.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class CLIShowTests: XCTestCase {
    var runDirectory = ""
    var loop: EventLoop!
    var buses: [ServiceBus] = []
    var background: BackgroundLoop?
    var debugDataplane: ServiceBus?
    /// The SA list sa-manager returns in place of the default one, when set.
    var childSAs: [ChildSAStatus]?

    override func setUpWithError() throws {
        runDirectory = makeRunDirectory()
        loop = EventLoop(handlesSignals: false)

        let negotiator = try ServiceBus(
            service: .ikeNegotiator, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("ike-negotiator"))
        negotiator.handle(MessageType.ikeList) { (_: EmptyRequest, _) in
            IKESAListReply(ikeSAs: [CLIShowTests.ikeSA])
        }
        let manager = try ServiceBus(
            service: .saManager, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("sa-manager"))
        manager.handle(MessageType.childList) { [unowned self] (_: EmptyRequest, _) in
            if let childSAs { return ChildSAListReply(childSAs: childSAs) }
            var counters = SACounters()
            counters.encaps = 12
            counters.encrypt = 12
            counters.digest = 12
            counters.decaps = 9
            counters.decrypt = 9
            counters.verify = 9
            counters.replayFailed = 1
            counters.tagged = 10
            counters.notTagged = 2
            counters.untagged = 9
            counters.bytesIn = 1024
            counters.bytesOut = 1024
            return ChildSAListReply(childSAs: [
                ChildSAStatus(
                    childSA: makeChildSA(inboundSPI: 4096), counters: counters,
                    pathMTU: SAPathMTU(pathMTU: 1400, ipMTU: 1500, interface: "out0"))
            ])
        }
        let store = try ServiceBus(
            service: .bindingStore, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("cts-binding-store"))
        let bindings = [
            SGTBinding(prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(10)!, source: .config),
            SGTBinding(prefix: IPPrefix("192.0.2.10/32")!, sgt: SGT(20)!, source: .config),
            SGTBinding(prefix: IPPrefix("198.51.100.0/24")!, sgt: SGT(44)!, source: .api),
            SGTBinding(prefix: IPPrefix("2001:db8::/32")!, sgt: SGT(30)!, source: .sxp),
        ]
        store.handle(MessageType.bindingList) { (_: EmptyRequest, _) in
            BindingListReply(bindings: bindings, effective: bindings)
        }
        store.handle(MessageType.sxpConnections) { (_: EmptyRequest, _) in
            CLIShowTests.sxpReply
        }
        let dataplane = try ServiceBus(
            service: .dataplane, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("dataplane-tagger"))
        dataplane.handle(MessageType.dataplaneStatus) { (_: EmptyRequest, _) in
            DataplaneStatusReply(
                insideInterface: "in0", outsideInterface: "out0", installedSAs: 1, bindings: 4,
                drops: ["noSA": 3, "badCMDVersion": 1, "unused": 0],
                workers: [
                    {
                        var status = WorkerStatus(
                            worker: 0, packets: 1000, bursts: 40, busyNanoseconds: 1_250_000_000,
                            idleNanoseconds: 3_750_000_000, cpu: 1)
                        status.ringDrops = 12
                        return status
                    }(),
                    WorkerStatus(
                        worker: 1, packets: 7, bursts: 7,
                        busyNanoseconds: 2_000_000, idleNanoseconds: 62_345_000_000),
                ])
        }
        // Every 50 ms while the debug is on: one SGT line, as the dataplane would send.
        var sequence = 0
        loop.addTimer(every: 0.05) {
            sequence += 1
            dataplane.publishDebug(
                MessageType.debugSGT, category: "crypto ipsec metadata sgt",
                "IPsec SGT:: inserted SGT = 333 for src ip 192.0.2.\(sequence % 250)")
        }
        debugDataplane = dataplane
        buses = [negotiator, manager, store, dataplane]
        background = BackgroundLoop(loop)
    }

    override func tearDown() {
        background?.stop()
        for bus in buses { bus.shutdown() }
        removeDirectory(runDirectory)
    }

    static let ikeSA = IKESAStatus(
        tunnelID: 1, localAddress: IPAddress("198.51.100.1")!, localPort: 500,
        remoteAddress: IPAddress("198.51.100.2")!, remotePort: 500, status: "READY",
        encryption: "aes-cbc-128", integrity: "hmac-sha256-128", prf: "prf-hmac-sha256",
        dhGroup: 19, authSign: "PSK", authVerify: "PSK", lifetimeSeconds: 86400,
        activeSeconds: 12, localSPI: "5A2B3C4D5E6F7081", remoteSPI: "1122334455667788",
        localID: "198.51.100.1", remoteID: "198.51.100.2", localRequestMessageID: 2,
        remoteRequestMessageID: 0, localNextMessageID: 2, remoteNextMessageID: 0,
        isInitiator: true, natDetected: false, sgtEnabled: true, childSAInboundSPIs: [4096])

    private func tagline(_ arguments: String...) throws -> ProcessResult {
        try runProcess(try builtExecutable("tagline"), ["--run-dir", runDirectory] + arguments)
    }

    func testShowIKEv2Detailed() throws {
        let result = try tagline("show", "crypto", "ikev2", "sa", "detailed")
        XCTAssertEqual(result.status, 0, result.standardError)
        let expected = """
             IPv4 Crypto IKEv2  SA 

            Tunnel-id Local                 Remote                fvrf/ivrf            Status 
            1         198.51.100.1/500      198.51.100.2/500      none/none            READY  
                  Encr: AES-CBC, keysize: 128, PRF: SHA256, Hash: SHA256, DH Grp:19, Auth sign: PSK, Auth verify: PSK
                  Life/Active Time: 86400/12 sec
                  Status Description: Negotiation done
                  Local spi: 5A2B3C4D5E6F7081       Remote spi: 1122334455667788
                  Local id: 198.51.100.1
                  Remote id: 198.51.100.2
                  Local req msg id:  2              Remote req msg id:  0
                  Local next msg id: 2              Remote next msg id: 0
                  DPD configured for 0 seconds, retry 0
                  NAT-T is not detected
                  Cisco Trust Security SGT is enabled
                  Initiator of SA : Yes
                  Child SA inbound SPIs: 0x00001000(4096)

             IPv6 Crypto IKEv2  SA 


            """
        XCTAssertEqual(result.standardOutput, expected)

        let brief = try tagline("sh", "cry", "ikev2", "sa")
        XCTAssertFalse(brief.standardOutput.contains("Status Description"))
        XCTAssertTrue(brief.standardOutput.contains("Life/Active Time: 86400/12 sec"))
    }

    func testShowIPsecDetail() throws {
        let result = try tagline("show", "crypto", "ipsec", "sa", "detail")
        XCTAssertEqual(result.status, 0, result.standardError)
        let expected = """

            interface: out0
                Crypto map tag: cmap, local addr 198.51.100.1

               protected vrf: (none)
               local  ident (addr/mask/prot/port): (192.0.2.0/255.255.255.0/0/0)
               remote ident (addr/mask/prot/port): (203.0.113.0/255.255.255.0/0/0)
               current_peer 198.51.100.2 port 500
                #pkts encaps: 12, #pkts encrypt: 12, #pkts digest: 12
                #pkts decaps: 9, #pkts decrypt: 9, #pkts verify: 9
                #pkts compressed: 0, #pkts decompressed: 0
                #pkts not compressed: 0, #pkts compr. failed: 0
                #pkts not decompressed: 0, #pkts decompress failed: 0
                #pkts no sa (send) 0, #pkts invalid sa (rcv) 0
                #pkts encaps failed (send) 0, #pkts decaps failed (rcv) 0
                #pkts invalid prot (recv) 0, #pkts verify failed: 0
                #pkts invalid identity (recv) 0, #pkts invalid len (rcv) 0
                #pkts replay rollover (send): 0, #pkts replay rollover (rcv) 0
                #pkts replay failed (rcv): 1
                #pkts tagged (send): 10, #pkts untagged (rcv): 9
                #pkts not tagged (send): 2, #pkts not untagged (rcv): 0
                #pkts internal err (send): 0, #pkts internal err (rcv) 0

                 local crypto endpt.: 198.51.100.1, remote crypto endpt.: 198.51.100.2
                 path mtu 1400, ip mtu 1500, ip mtu idb out0
                 current outbound spi: 0xC0FFEE01(3237998081)

                 inbound esp sas:
                  spi: 0x00001000(4096)
                    transform: esp-aes esp-sha-hmac ,
                    in use settings ={Tunnel, }
                    crypto map: cmap
                    sa timing: remaining key lifetime (k/sec): (4607998/0)
                    IV size: 16 bytes
                    replay detection support: Y
                    Status: ACTIVE(ACTIVE)

                 inbound ah sas:

                 outbound esp sas:
                  spi: 0xC0FFEE01(3237998081)
                    transform: esp-aes esp-sha-hmac ,
                    in use settings ={Tunnel, }
                    crypto map: cmap
                    sa timing: remaining key lifetime (k/sec): (4607998/0)
                    IV size: 16 bytes
                    replay detection support: Y
                    Status: ACTIVE(ACTIVE)

                 outbound ah sas:

            """
        XCTAssertEqual(result.standardOutput, expected)

        let brief = try tagline("show", "crypto", "ipsec", "sa")
        XCTAssertTrue(brief.standardOutput.contains("    #send errors 0, #recv errors 1\n"))
        XCTAssertFalse(brief.standardOutput.contains("#pkts replay failed"))
        XCTAssertTrue(brief.standardOutput.contains("     path mtu 1400, ip mtu 1500, "))
    }

    func testWiresharkLinesCarryKeys() throws {
        let result = try tagline("show", "crypto", "ipsec", "sa", "--wireshark")
        XCTAssertEqual(result.status, 0, result.standardError)
        let outboundKey = String(repeating: "33", count: 16)
        let outboundAuth = String(repeating: "44", count: 20)
        let inboundKey = String(repeating: "11", count: 16)
        let inboundAuth = String(repeating: "22", count: 20)
        let expected = """
            "IPv4","198.51.100.1","198.51.100.2","0xc0ffee01","AES-CBC [RFC3602]","0x\(outboundKey)","HMAC-SHA-1-96 [RFC2404]","0x\(outboundAuth)"
            "IPv4","198.51.100.2","198.51.100.1","0x00001000","AES-CBC [RFC3602]","0x\(inboundKey)","HMAC-SHA-1-96 [RFC2404]","0x\(inboundAuth)"

            """
        XCTAssertEqual(result.standardOutput, expected)
    }

    func testShowIPsecESNResyncs() throws {
        var esn = makeChildSA(inboundSPI: 4096)
        esn.extendedSequenceNumbers = true
        var counters = SACounters()
        counters.esnResynchronizations = 2
        let plain = makeChildSA(inboundSPI: 8192, outboundSPI: 0xC0FF_EE02)
        childSAs = [
            ChildSAStatus(childSA: esn, counters: counters),
            ChildSAStatus(childSA: plain, counters: SACounters()),
        ]

        let detail = try tagline("show", "crypto", "ipsec", "sa", "detail")
        XCTAssertEqual(detail.status, 0, detail.standardError)
        let lines = detail.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        let resyncLines = lines.filter { $0.contains("#esn resynchronizations") }
        XCTAssertEqual(resyncLines, ["    #esn resynchronizations (rcv): 2"], "only the ESN SA")
        let replayIndex = try XCTUnwrap(lines.firstIndex { $0.contains("#pkts replay failed") })
        XCTAssertEqual(lines[replayIndex + 1], "    #esn resynchronizations (rcv): 2")

        let brief = try tagline("show", "crypto", "ipsec", "sa")
        XCTAssertFalse(brief.standardOutput.contains("#esn resynchronizations"))

        let json = try tagline("show", "crypto", "ipsec", "sa", "--json")
        XCTAssertTrue(
            json.standardOutput.contains("\"esnResynchronizations\": 2"), json.standardOutput)
    }

    func testJSONOutputRedactsKeys() throws {
        let result = try tagline("show", "crypto", "ipsec", "sa", "--json")
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardOutput.contains("\"inboundSPI\": 4096"), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains("\"inboundKeys\": \"<redacted>\""))
        XCTAssertFalse(result.standardOutput.contains("1111"))
        XCTAssertFalse(result.standardOutput.contains("3333"))
    }

    func testShowSGTMapAll() throws {
        let result = try tagline("show", "cts", "role-based", "sgt-map", "all")
        XCTAssertEqual(result.status, 0, result.standardError)
        let expected = """
            Active IPv4-SGT Bindings Information

            IP Address              SGT     Source
            ============================================
            192.0.2.0/24            10      CLI
            192.0.2.10              20      CLI
            198.51.100.0/24         44      API

            Active IPv6-SGT Bindings Information

            IP Address              SGT     Source
            ============================================
            2001:db8::/32           30      SXP

            IP-SGT Active Bindings Summary
            ============================================
            Total number of API      bindings = 1
            Total number of CLI      bindings = 2
            Total number of SXP      bindings = 1
            Total number of active   bindings = 4

            """
        XCTAssertEqual(result.standardOutput, expected)
    }

    static let sxpReply = SXPConnectionsReply(
        enabled: true, highestVersion: 4, defaultPasswordSet: true,
        defaultSourceIP: "192.0.2.1", retryPeriod: 120, reconciliationPeriod: 120,
        connections: [
            SXPConnectionStatus(
                peer: "198.51.100.2", source: "192.0.2.1", state: "On", version: 4,
                capabilities: ["IPv4", "IPv6", "Subnet"], holdTime: 120, mode: "Listener",
                instance: 1, fd: 12, password: "default", holdTimerRunning: true,
                secondsSinceChange: 93_785, learnedBindings: 2)
        ])

    func testShowSXPConnections() throws {
        let result = try tagline("show", "cts", "sxp", "connections")
        XCTAssertEqual(result.status, 0, result.standardError)
        let expected = """
             SXP              : Enabled
             Highest Version Supported: 4
             Default Password : Set
             Default Source IP: 192.0.2.1
            Connection retry open period: 120 secs
            Reconcile period: 120 secs
            ----------------------------------------------
            Peer IP          : 198.51.100.2
            Source IP        : 192.0.2.1
            Conn status      : On
            Conn version     : 4
            Conn capability  : IPv4-IPv6-Subnet
            Conn hold time   : 120 seconds
            Local mode       : SXP Listener
            Connection inst# : 1
            TCP conn fd      : 12
            TCP conn password: default SXP password
            Hold timer is running
            Duration since last state change: 1:02:03:05 (dd:hr:mm:sec)

            Total num of SXP Connections = 1

            """
        XCTAssertEqual(result.standardOutput, expected)
    }

    func testShowSXPConnectionsBrief() throws {
        let result = try tagline("show", "cts", "sxp", "connections", "brief")
        XCTAssertEqual(result.status, 0, result.standardError)
        let lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertTrue(
            lines.contains { $0.hasPrefix("Peer_IP          Source_IP        Conn Status") })
        XCTAssertTrue(
            lines.contains(
                "198.51.100.2     192.0.2.1        On                        "
                    + "1:02:03:05 (dd:hr:mm:sec)"))
        XCTAssertEqual(lines.last(where: { !$0.isEmpty }), "Total num of SXP Connections = 1")
    }

    func testShowDataplane() throws {
        let result = try tagline("show", "dataplane")
        XCTAssertEqual(result.status, 0, result.standardError)
        let expected = """
            Dataplane: inside in0, outside out0
              1 SA pairs installed, 4 SGT bindings

            Worker  CPU  Packets       Bursts      Busy        Idle        Busy %  Ring drops
            0       1    1000          40          1.250s      3.750s      25.0%   12
            1       -    7             7           0.002s      62.345s     0.0%    -

            Drops:
              badCMDVersion  1
              noSA           3

            """
        XCTAssertEqual(result.standardOutput, expected)
    }

    func testShowDataplaneJSON() throws {
        let result = try tagline("show", "dataplane", "--json")
        XCTAssertEqual(result.status, 0, result.standardError)
        let reply = try JSONDecoder().decode(
            DataplaneStatusReply.self, from: Data(result.standardOutput.utf8))
        XCTAssertEqual(reply.workers.map(\.cpu), [1, nil])
        XCTAssertEqual(reply.workers.map(\.idleNanoseconds), [3_750_000_000, 62_345_000_000])
    }

    func testServiceDownMessage() throws {
        let empty = makeRunDirectory()
        defer { removeDirectory(empty) }
        let path = try builtExecutable("tagline")
        let result = try runProcess(
            path,
            [
                "--run-dir", empty, "show", "dataplane", "--timeout",
                "0.3",
            ])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(
            result.standardError.contains(
                "dataplane-tagger is not running (no reply from ipc://\(empty)/"
                    + "dataplane-tagger.router within 0.3 s); start it or check TAGLINE_RUN_DIR"),
            result.standardError)

        let missing = try runProcess(
            path,
            [
                "--run-dir", empty + "/missing", "ping",
                "--timeout", "0.2",
            ])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.standardError.contains("does not exist"), missing.standardError)
    }

    func testDebugStreamsLinesThenSwitchesOff() throws {
        let result = try tagline("debug", "crypto", "ipsec", "metadata", "sgt", "--count", "2")
        XCTAssertEqual(result.status, 0, result.standardError)
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, result.standardOutput)
        guard lines.count == 4 else { return }
        XCTAssertTrue(lines[0].hasPrefix("crypto ipsec metadata sgt debugging is on"), lines[0])
        for line in lines[1...2] {
            // *Dec  4 16:07:29.123: IPsec SGT:: inserted SGT = 333 for src ip 192.0.2.7
            XCTAssertTrue(line.hasPrefix("*"), line)
            XCTAssertTrue(
                line.contains(": IPsec SGT:: inserted SGT = 333 for src ip 192.0.2."),
                line)
            XCTAssertEqual(
                line.split(separator: " ", omittingEmptySubsequences: true).count,
                13, line)
        }
        XCTAssertEqual(lines[3], "crypto ipsec metadata sgt debugging is off")
        let dataplane = try XCTUnwrap(debugDataplane)
        background?.stop()
        background = nil
        XCTAssertFalse(dataplane.isDebugEnabled("crypto ipsec metadata sgt"))
    }

    func testTraceFollowsRequests() throws {
        let chromePath = runDirectory + "/trace.json"
        let client = try BusClient(
            service: .saManager, runDirectory: runDirectory,
            sender: "tagline")
        let result = try runProcess(
            try builtExecutable("tagline"),
            ["--run-dir", runDirectory, "trace", "-v", "--duration", "1.5", "--chrome", chromePath]
        ) {
            // Keep sending while the trace subscriptions take effect.
            for _ in 0..<10 {
                usleep(100_000)
                _ = try client.request(
                    MessageType.childList, EmptyRequest(),
                    as: ChildSAListReply.self)
            }
        }
        XCTAssertEqual(result.status, 0, result.standardError)
        let output = result.standardOutput
        XCTAssertTrue(output.contains("  tagline -> sa-manager  sa.child.list  trace "), output)
        XCTAssertTrue(output.contains("  sa-manager -> tagline  sa.child.list.reply  trace "))
        XCTAssertTrue(output.contains("\"inboundKeys\":\"<redacted>\""))
        XCTAssertFalse(output.contains("1111"))

        let data = try Data(contentsOf: URL(fileURLWithPath: chromePath))
        let document = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let events = try XCTUnwrap(document?["traceEvents"] as? [[String: Any]])
        XCTAssertTrue(events.contains { $0["name"] as? String == "sa.child.list.reply" })
    }

    func testUsageErrors() throws {
        let unknown = try tagline("show", "bogus")
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.standardError.contains("unknown command: show bogus"))
        let ambiguous = try tagline("sh", "cr", "i", "sa")
        XCTAssertEqual(ambiguous.status, 2)
        XCTAssertTrue(ambiguous.standardError.contains("ambiguous command"))
        let badTag = try tagline("cts", "role-based", "sgt-map", "add", "192.0.2.1", "sgt", "0")
        XCTAssertEqual(badTag.status, 2)
        XCTAssertTrue(badTag.standardError.contains("SGT 0 means unknown"), badTag.standardError)
        let badPrefix = try tagline(
            "cts", "role-based", "sgt-map", "add", "192.0.2.1/24", "sgt",
            "5")
        XCTAssertEqual(badPrefix.status, 2)
        XCTAssertTrue(badPrefix.standardError.contains("invalid prefix 192.0.2.1/24"))
    }
}
