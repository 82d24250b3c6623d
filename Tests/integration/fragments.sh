# shellcheck shell=bash
# Fragmentation in the lab: path MTU learned from ICMP about gw1's ESP
# packets, fragmentation after encryption, and ICMP "fragmentation needed"
# back to hostA when DF is set. tests.sh sources this file after
# interop.sh, whose wait_until these tests use.

# inject_packet_too_big NS IF PCAP MTU [SPI_XOR]: sends, on interface IF of
# namespace NS, an ICMP "fragmentation needed" with next-hop MTU MTU to the
# source of the ESP frame in PCAP, quoting that frame's IP header and first
# 8 bytes; SPI_XOR (default 0) alters the quoted SPI to forge the message.
inject_packet_too_big() {
    ip netns exec "$1" python3 - "$2" "$3" "$4" "${5:-0}" <<'PY'
import socket, struct, sys
interface, path, mtu, spi_xor = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = open(path, "rb").read()
order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
length = struct.unpack(order + "I", data[32:36])[0]
frame = data[40:40 + length]
esp = bytearray(frame[14:14 + 28])
esp[20:24] = (struct.unpack("!I", esp[20:24])[0] ^ spi_xor).to_bytes(4, "big")

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

icmp = bytearray(struct.pack("!BBHHH", 3, 4, 0, 0, mtu)) + esp
icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
# From the ESP packet's destination (a router on the path) to its source.
ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                           bytes(esp[16:20]), bytes(esp[12:16])))
ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((interface, 0))
sock.send(frame[6:12] + frame[0:6] + b"\x08\x00" + bytes(ip) + bytes(icmp))
print("sent a packet-too-big with MTU %d on %s" % (mtu, interface))
PY
}

# path_mtu_line GW: the "path mtu" line of the gateway's first SA.
path_mtu_line() {
    tl "$1" show crypto ipsec sa detail | grep -m 1 "path mtu" | sed 's/^ *//'
}

# Both gateways fragment after encryption. A forged ICMP changes nothing; a
# genuine one from the gw1-gw2 link lowers gw1's path MTU to 1300, shown in
# `show crypto ipsec sa detail`. hostA's 3000-byte pings without DF then
# cross as outer fragments that gw2 reassembles; with DF, hostA gets
# "fragmentation needed" from gw1 naming the inner MTU that fits 1300.
lab_fragments() {
    require_cmd tcpdump tcpdump
    lab_start --extra-config "crypto ipsec fragmentation after-encryption"
    grep -h "fragmentation after-encryption" "$LAB_DIR"/gw1/logs/*.log ||
        fail "gw1's dataplane log does not show fragmentation after encryption"

    ip netns exec "$ns_gw2" tcpdump -n -i out0 -c 1 -w "$LAB_DIR/esp.pcap" \
        'ip proto 50 and src 198.51.100.1' >/dev/null 2>&1 &
    local capture=$!
    sleep 1
    expect_eq "echo replies before" 3 "$(ping_count "$ns_hostA" 203.0.113.2 3)"
    wait "$capture" || fail "tcpdump captured no ESP frame from gw1"
    settle
    expect_eq "gw1 path mtu line" "path mtu 1500, ip mtu 1500, ip mtu idb out0" \
        "$(path_mtu_line gw1)"

    inject_packet_too_big "$ns_gw2" out0 "$LAB_DIR/esp.pcap" 1300 255
    settle
    expect_eq "gw1 path mtu after a forged ICMP" "path mtu 1500, ip mtu 1500, ip mtu idb out0" \
        "$(path_mtu_line gw1)"
    tl gw1 show dataplane | grep -E "packetTooBigMismatch +1$" ||
        fail "gw1 did not count the forged ICMP as packetTooBigMismatch"

    inject_packet_too_big "$ns_gw2" out0 "$LAB_DIR/esp.pcap" 1300
    wait_until 5 "gw1's path mtu line shows 1300" \
        eval '[ "$(path_mtu_line gw1)" = "path mtu 1300, ip mtu 1500, ip mtu idb out0" ]'

    ip netns exec "$ns_gw2" tcpdump -n -i out0 -c 2 -w "$LAB_DIR/fragments.pcap" \
        'src 198.51.100.1 and ip[6:2] & 0x3fff != 0' >/dev/null 2>&1 &
    capture=$!
    sleep 1
    local decaps
    decaps=$(sa_counter gw2 decaps)
    expect_eq "echo replies to 3000-byte pings without DF" 5 \
        "$(ip netns exec "$ns_hostA" ping -M dont -s 3000 -c 5 -i 0.2 -W 2 203.0.113.2 |
            awk '/received/ { print $4 }')"
    wait "$capture" || fail "tcpdump saw no outer fragments from gw1"
    tcpdump -n -v -r "$LAB_DIR/fragments.pcap" 2>/dev/null | head -n 4
    settle
    # hostA sends each ping as 3 fragments of at most 1400 bytes; each is one ESP packet.
    expect_eq "gw2 decaps delta" 15 $(($(sa_counter gw2 decaps) - decaps))

    # 1372 bytes of data make a 1400-byte packet, too big for a 1300-byte path. With
    # AES-GCM-128 (8-byte IV, 16-byte ICV, 4-byte blocks) and a CMD, 1238 bytes fit.
    local output
    output=$(ip netns exec "$ns_hostA" ping -M do -s 1372 -c 3 -i 0.2 -W 1 203.0.113.2 2>&1 || true)
    echo "$output"
    echo "$output" | grep -qE "mtu ?= ?1238" ||
        fail "hostA did not learn MTU 1238 from gw1's fragmentation-needed message"
}

# gw2's inside link narrowed to 1300 bytes while gw2 runs. gw2's dataplane
# reads the new MTU on its next kernel refresh (once a second) and logs it.
# hostA's 1400-byte pings with DF cross the tunnel, gw2 drops them as too big
# and sends "fragmentation needed" with MTU 1300 from 203.0.113.1 back
# through the tunnel, which hostA's ping reports. Without DF, gw2 fragments
# the pings and hostB replies to them.
lab_inside_mtu() {
    lab_start
    ip -n "$ns_gw2" link set in0 mtu 1300
    ip -n "$ns_hostB" link set eth0 mtu 1300
    wait_until 5 "gw2's dataplane logs the inside MTU change" \
        grep -q "interface in0 MTU changed from 1400 to 1300" "$LAB_DIR"/gw2/logs/dataplane*.log

    local encaps output
    encaps=$(sa_counter gw2 encaps)
    output=$(ip netns exec "$ns_hostA" ping -M do -s 1372 -c 3 -i 0.2 -W 1 203.0.113.2 2>&1 || true)
    echo "$output"
    echo "$output" | grep -qE "mtu ?= ?1300" ||
        fail "hostA did not learn MTU 1300 from gw2's fragmentation-needed message"
    settle
    [ $(($(sa_counter gw2 encaps) - encaps)) -ge 1 ] ||
        fail "gw2 sent no ICMP error through the tunnel"
    tl gw2 show dataplane | grep -E "tooBig +[1-9]" ||
        fail "gw2 did not count the 1400-byte pings as tooBig"

    expect_eq "echo replies to 1400-byte pings without DF" 3 \
        "$(ip netns exec "$ns_hostA" ping -M dont -s 1372 -c 3 -i 0.2 -W 2 203.0.113.2 |
            awk '/received/ { print $4 }')"
}

# The outside link narrowed to 1400 bytes at both ends and widened back while
# both gateways run, without a restart. Both ends change, as on a real link,
# because a veth drops a frame over the MTU of its receiving end. The `ip mtu` of
# `show crypto ipsec sa detail` follows each change within the dataplane's
# kernel refresh, and the log shows each change once. A 1400-byte ping with
# DF from hostA learns the tunnel MTU of the new outside MTU: 1400 less 62
# bytes of ESP, IV, ICV and CMD is 1338.
lab_live_mtu() {
    lab_start
    expect_eq "gw1 path mtu line before" "path mtu 1500, ip mtu 1500, ip mtu idb out0" \
        "$(path_mtu_line gw1)"

    ip -n "$ns_gw1" link set out0 mtu 1400
    ip -n "$ns_gw2" link set out0 mtu 1400
    local gw
    for gw in gw1 gw2; do
        wait_until 5 "$gw's ip mtu shows 1400" \
            eval '[ "$(path_mtu_line '$gw')" = "path mtu 1400, ip mtu 1400, ip mtu idb out0" ]'
    done
    local output
    output=$(ip netns exec "$ns_hostA" ping -M do -s 1372 -c 3 -i 0.2 -W 1 203.0.113.2 2>&1 || true)
    echo "$output"
    echo "$output" | grep -qE "mtu ?= ?1338" ||
        fail "hostA did not learn MTU 1338 from gw1's fragmentation-needed message"
    expect_eq "echo replies to 1400-byte pings without DF" 3 \
        "$(ip netns exec "$ns_hostA" ping -M dont -s 1372 -c 3 -i 0.2 -W 2 203.0.113.2 |
            awk '/received/ { print $4 }')"

    ip -n "$ns_gw1" link set out0 mtu 1500
    ip -n "$ns_gw2" link set out0 mtu 1500
    wait_until 5 "gw1's ip mtu shows 1500 again" \
        eval '[ "$(path_mtu_line gw1)" = "path mtu 1500, ip mtu 1500, ip mtu idb out0" ]'
    settle
    expect_eq "log lines for the change to 1400" 1 \
        "$(cat "$LAB_DIR"/gw1/logs/dataplane*.log | grep -c "out0 MTU changed from 1500 to 1400")"
    expect_eq "log lines for the change back to 1500" 1 \
        "$(cat "$LAB_DIR"/gw1/logs/dataplane*.log | grep -c "out0 MTU changed from 1400 to 1500")"
}

# The MTUs of the outside link and of gw2's inside link change 30 times, down
# to 576 and back, on both ends of each link, while hostA pings hostB every
# 10 ms without DF. The dataplanes keep running (same pids). Once the MTUs are
# back, pings cross both ways, because a frame over a new MTU that reached the
# kernel must not stop the TX ring.
lab_mtu_flap() {
    lab_start
    local conf1="$LAB_DIR/gw1/supervisord.conf" conf2="$LAB_DIR/gw2/supervisord.conf"
    local pid1 pid2
    pid1=$(supervisorctl -c "$conf1" pid dataplane-tagger)
    pid2=$(supervisorctl -c "$conf2" pid dataplane-tagger)

    ip netns exec "$ns_hostA" ping -M dont -s 1372 -i 0.01 -c 600 -W 1 203.0.113.2 \
        >"$LAB_DIR/flap-ping.txt" 2>&1 &
    local pinger=$!
    local round mtu
    for round in 1 2 3; do
        for mtu in 1400 576 1300 1280 1500 600 1450 1000 1499 1500; do
            ip -n "$ns_gw1" link set out0 mtu "$mtu"
            ip -n "$ns_gw2" link set out0 mtu "$mtu"
            ip -n "$ns_gw2" link set in0 mtu "$((mtu < 1400 ? mtu : 1400))"
            ip -n "$ns_hostB" link set eth0 mtu "$((mtu < 1400 ? mtu : 1400))"
            sleep 0.1
        done
    done
    wait "$pinger" || true
    echo "during the changes: $(grep received "$LAB_DIR/flap-ping.txt")"

    ip -n "$ns_gw2" link set in0 mtu 1400
    ip -n "$ns_hostB" link set eth0 mtu 1400
    wait_until 5 "gw1's ip mtu shows 1500 again" \
        eval '[ "$(path_mtu_line gw1)" = "path mtu 1500, ip mtu 1500, ip mtu idb out0" ]'
    settle
    expect_eq "gw1's dataplane pid" "$pid1" "$(supervisorctl -c "$conf1" pid dataplane-tagger)"
    expect_eq "gw2's dataplane pid" "$pid2" "$(supervisorctl -c "$conf2" pid dataplane-tagger)"
    expect_eq "echo replies to 1400-byte pings without DF after the changes" 3 \
        "$(ip netns exec "$ns_hostA" ping -M dont -s 1372 -c 3 -i 0.2 -W 2 203.0.113.2 |
            awk '/received/ { print $4 }')"
    # The hosts learned lower path MTUs from the gateways' errors and forget them here.
    ip -n "$ns_hostA" route flush cache
    ip -n "$ns_hostB" route flush cache
    expect_eq "echo replies to DF pings of 1400 bytes after the changes" 3 \
        "$(ip netns exec "$ns_hostA" ping -M do -s 1372 -c 3 -i 0.2 -W 2 203.0.113.2 |
            awk '/received/ { print $4 }')"
}
