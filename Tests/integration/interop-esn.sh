# shellcheck shell=bash
# Tests of extended sequence numbers (ESN): interop with strongSwan on the
# ESN transform of ESP proposals, and ESN traffic and replays between two
# Tagline gateways in the lab. tests.sh sources this file after interop.sh,
# whose helpers these tests use.
#
# strongSwan's kernel-libipsec (5.9.8, the userspace ESP these tests use
# because this kernel has no XFRM ESP) refuses every ESN SA with "IPsec SA:
# ESN not supported", so no ESN traffic can cross to strongSwan here. The
# tests show that offering ESN does not disturb a peer without it, that a
# responder without `crypto ipsec esn` chooses "no ESN" from an ESN offer,
# and that with the line Tagline does pick ESN on the wire.

# tl_child_esn: "esn" or "no" for each Child SA Tagline lists.
tl_child_esn() {
    tl_cli show crypto ipsec sa --json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["childSAs"]:
    print("esn" if e["childSA"].get("extendedSequenceNumbers") else "no")'
}

# Tagline initiates with `crypto ipsec esn`, so its proposal lists ESN and
# no ESN. strongSwan, configured with aes128gcm16 (no ESN only), picks no
# ESN, and traffic crosses both ways.
interop_esn() {
    # At cfg level 2 charon logs the proposals it received.
    sw_log_levels=cfg=2
    interop_topology aes128-sha256-ecp256 aes128gcm16
    extra="crypto ipsec esn"
    interop_write_config initiator
    interop_up initiator
    grep "received proposals: .*ESP:AES_GCM_16_128/EXT_SEQ/NO_EXT_SEQ" "$sw_dir/charon.log" ||
        fail "strongSwan's log shows no ESP proposal with ESN and no ESN from Tagline"
    grep "selected proposal: ESP:AES_GCM_16_128/NO_EXT_SEQ" "$sw_dir/charon.log" ||
        fail "strongSwan's log shows no selected ESP proposal without ESN"
    sw --list-sas | grep -E "INSTALLED, TUNNEL.*ESP:AES_GCM_16-128$" ||
        fail "strongSwan's Child SA does not show AES_GCM_16-128 without ESN"
    expect_eq "Tagline's ESN choice" "no" "$(tl_child_esn)"
    interop_pings
}

# strongSwan initiates offering aes128gcm16-esn-noesn. Tagline without
# `crypto ipsec esn` chooses no ESN and traffic crosses. With the line
# Tagline chooses ESN: its log names ESN, and strongSwan's kernel-libipsec
# then refuses to install the ESN SA.
interop_esn_responder() {
    interop_topology aes128-sha256-ecp256 aes128gcm16-esn-noesn
    interop_write_config responder
    interop_up responder
    expect_eq "Tagline's ESN choice without the line" "no" "$(tl_child_esn)"
    interop_pings

    "$root/compose/gateway" stop --dir "$LAB_DIR/gw" >/dev/null
    sw --terminate --ike peer --force >/dev/null 2>&1 || true
    rm -rf "$LAB_DIR/gw"
    extra="crypto ipsec esn"
    interop_write_config responder
    "$root/compose/gateway" start --dir "$LAB_DIR/gw" --config "$LAB_DIR/gw.cfg" --bin "$bin" \
        --netns "$gw_ns" --inside in0 --outside out0
    "$peer" initiate --ns "$sw_ns" --timeout 20 || true
    wait_until 20 "Tagline's log shows a Child SA with ESN" \
        eval 'grep -h "Child SA up.*ESN" "$LAB_DIR"/gw/logs/*.log'
    wait_until 10 "strongSwan's kernel-libipsec refused the ESN SA" \
        grep -q "IPsec SA: ESN not supported" "$sw_dir/charon.log"
}

# lab_child_esn GW: "esn" or "no" for each Child SA of a lab gateway.
lab_child_esn() {
    tl "$1" show crypto ipsec sa --json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["childSAs"]:
    print("esn" if e["childSA"].get("extendedSequenceNumbers") else "no")'
}

# inject_first_frame NS IF PCAP COUNT: sends the first frame of PCAP COUNT
# times on interface IF of namespace NS, through an AF_PACKET socket.
inject_first_frame() {
    ip netns exec "$1" python3 - "$2" "$3" "$4" <<'PY'
import socket, struct, sys
interface, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
# pcap: 24-byte file header, then a 16-byte record header whose third
# field is the captured length, in the byte order of the magic number.
order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
length = struct.unpack(order + "I", data[32:36])[0]
frame = data[40:40 + length]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((interface, 0))
for _ in range(count):
    sock.send(frame)
print("sent %d copies of a %d-byte frame on %s" % (count, len(frame), interface))
PY
}

# Two Tagline gateways with `crypto ipsec esn` and a 64-packet replay
# window: both sides of the Child SA use ESN, traffic crosses, and an ESP
# frame captured at gw2 and sent again from gw1's outside link counts as
# "replay failed" at gw2 without disturbing later traffic.
lab_esn() {
    require_cmd tcpdump tcpdump
    lab_start --extra-config "crypto ipsec esn" \
        --extra-config "crypto ipsec security-association replay window-size 64"
    expect_eq "gw1's Child SA ESN" "esn" "$(lab_child_esn gw1)"
    expect_eq "gw2's Child SA ESN" "esn" "$(lab_child_esn gw2)"
    grep -h "replay window 64 packets" "$LAB_DIR"/gw2/logs/*.log ||
        fail "gw2's dataplane log does not show the 64-packet replay window"

    ip netns exec "$ns_gw2" tcpdump -n -i out0 -c 1 -w "$LAB_DIR/esp.pcap" \
        'ip proto 50 or (udp port 4500 and udp[8:4] != 0)' >/dev/null 2>&1 &
    local capture=$!
    sleep 1
    expect_eq "echo replies with ESN" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
    wait "$capture" || fail "tcpdump captured no ESP frame at gw2"

    settle
    local replayed decaps
    replayed=$(sa_counter gw2 replayFailed)
    decaps=$(sa_counter gw2 decaps)
    inject_first_frame "$ns_gw1" out0 "$LAB_DIR/esp.pcap" 3
    settle
    expect_eq "gw2 replay failed delta" 3 $(($(sa_counter gw2 replayFailed) - replayed))
    expect_eq "gw2 decaps delta after the replays" 0 $(($(sa_counter gw2 decaps) - decaps))
    expect_eq "echo replies after the replays" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
    # Replays are no ICV failures, so no resynchronization ran.
    tl gw2 show crypto ipsec sa detail | grep -E "^ +#esn resynchronizations \(rcv\): 0$" ||
        fail "gw2's ESN SA shows no ESN resynchronization line"
    tl gw2 show crypto ipsec sa --json | grep -q '"esnResynchronizations": 0' ||
        fail "gw2's JSON output has no esnResynchronizations counter"
}
