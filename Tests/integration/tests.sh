#!/usr/bin/env bash
# The integration test cases, one function each; `run` calls this file with
# one test name. Each test builds what it needs in its own namespaces (the
# LAB_PREFIX is unique per test run) and removes it on every exit path.
set -euo pipefail

: "${bin:?}" "${shared:?}" "${root:?}"
export LAB_PREFIX=tgit$$
export LAB_DIR=/tmp/tagline-it-$$
lab=$root/compose/lab/lab
# shellcheck source=../../compose/lab/lib.sh
. "$root/compose/lab/lib.sh"

fail() { echo "FAILED: $*"; exit 1; }
expect_eq() {   # expect_eq DESCRIPTION EXPECTED ACTUAL
    [ "$2" = "$3" ] || fail "$1: expected $2, got $3"
    echo "ok: $1 ($3)"
}
require_cmd() {   # require_cmd COMMAND PACKAGE
    command -v "$1" >/dev/null || fail "$1 not found; install it: apt-get install -y $2 (or make deps)"
}
dump_logs() { for gw in gw1 gw2; do [ -d "$LAB_DIR/$gw" ] && show_logs "$gw"; done; true; }

# ---------------------------------------------------------------- the lab --

lab_cleanup() {
    local status=$?
    [ $status = 0 ] || dump_logs
    "$lab" down >/dev/null 2>&1 || true
    rm -rf "$LAB_DIR"
    exit $status
}

lab_start() {   # lab_start [lab up options]
    require_cmd ip iproute2
    require_cmd ping iputils-ping
    require_cmd supervisord supervisor
    trap lab_cleanup EXIT
    "$lab" up --bin "$bin" "$@"
    wait_for_tunnel 30 || fail "the tunnel did not come up within 30 s"
}

# ping_count NS DESTINATION COUNT: prints how many echo replies came back
# (0 when none did, which makes ping itself exit 1).
ping_count() {
    { ip netns exec "$1" ping -c "$3" -i 0.2 -W 2 "$2" || true; } |
        awk '/received/ { print $4 }'
}

# seconds_until_ping NS DESTINATION LIMIT: pings once every 0.2 s until a
# reply comes back and prints the seconds that took; prints LIMIT on failure.
seconds_until_ping() {
    local start=$SECONDS waited=0
    while [ $((SECONDS - start)) -lt "$3" ]; do
        if ip netns exec "$1" ping -c 1 -W 0.2 "$2" >/dev/null 2>&1; then
            waited=$((SECONDS - start))
            echo "$waited"
            return 0
        fi
        sleep 0.2
    done
    echo "$3"
}

# Both gateways tag: pings and TCP carry hostA's and hostB's SGTs, the
# counters match the packets sent, and the kernel adds nothing of its own.
lab_tagging() {
    require_cmd tcpdump tcpdump
    lab_start
    tl gw1 show crypto ikev2 sa detailed | grep -q "Cisco Trust Security SGT is enabled" ||
        fail "show crypto ikev2 sa detailed on gw1 does not say SGT is enabled"
    tl gw1 debug crypto ipsec metadata sgt --duration 8 >"$LAB_DIR/gw1-sgt.txt" 2>&1 &
    local debug1=$!
    tl gw2 debug crypto ipsec metadata sgt --duration 8 >"$LAB_DIR/gw2-sgt.txt" 2>&1 &
    local debug2=$!
    # Anything the gateways' kernels emit on the outside link besides IKE,
    # ESP and address resolution (ICMP unreachables, forwarded clear
    # packets) is a fault. IPv6 from link-local sources (neighbour discovery,
    # MLD reports) is the kernel's link housekeeping; the lab's traffic is IPv4.
    ip netns exec "$ns_gw2" tcpdump -n -i out0 -w "$LAB_DIR/outside.pcap" \
        'not (udp port 500 or udp port 4500 or ip proto 50 or arp or
              (ip6 and src net fe80::/10))' >/dev/null 2>&1 &
    local capture=$!
    sleep 1

    local tagged0 untagged0
    tagged0=$(sa_counter gw1 tagged)
    untagged0=$(sa_counter gw2 untagged)
    expect_eq "echo replies from hostB" 10 "$(ping_count "$ns_hostA" 203.0.113.2 10)"
    settle
    expect_eq "gw1 tagged (send) delta" 10 $(($(sa_counter gw1 tagged) - tagged0))
    expect_eq "gw2 untagged (rcv) delta" 10 $(($(sa_counter gw2 untagged) - untagged0))
    expect_eq "gw1 not tagged (send)" 0 "$(sa_counter gw1 notTagged)"

    ip netns exec "$ns_hostB" python3 "$root/compose/lab/tcp-transfer.py" serve 5001 \
        >"$LAB_DIR/tcp.txt" &
    local server=$!
    sleep 0.5
    local sent
    sent=$(ip netns exec "$ns_hostA" python3 "$root/compose/lab/tcp-transfer.py" send \
        203.0.113.2 5001 1000000)
    wait $server
    expect_eq "TCP stream through the tunnel" "$sent" "$(tail -n 1 "$LAB_DIR/tcp.txt")"

    wait $debug1 $debug2 || true
    kill -INT $capture 2>/dev/null || true
    wait $capture 2>/dev/null || true
    grep -q 'inserted SGT = 333 for src ip 192.0.2.2' "$LAB_DIR/gw1-sgt.txt" ||
        fail "gw1 debug output lacks 'inserted SGT = 333 for src ip 192.0.2.2'"
    grep -q 'extracted SGT = 333 for src ip 192.0.2.2' "$LAB_DIR/gw2-sgt.txt" ||
        fail "gw2 debug output lacks 'extracted SGT = 333 for src ip 192.0.2.2'"
    grep -q 'extracted SGT = 400 for src ip 203.0.113.2' "$LAB_DIR/gw1-sgt.txt" ||
        fail "gw1 debug output lacks 'extracted SGT = 400 for src ip 203.0.113.2'"
    local extra
    tcpdump -n -r "$LAB_DIR/outside.pcap" 2>/dev/null | head -n 20
    extra=$(tcpdump -n -r "$LAB_DIR/outside.pcap" 2>/dev/null | wc -l)
    expect_eq "packets on the outside link other than IKE, ESP and ARP" 0 "$extra"
}

# gw2 lacks `crypto ikev2 cts sgt`: the SAs come up without tagging, and
# gw1 sends untagged although it has bindings.
lab_untagged_peer() {
    lab_start --gw2-sgt off
    tl gw1 show crypto ikev2 sa detailed | grep -q "Cisco Trust Security SGT is enabled" &&
        fail "gw1 claims SGT is enabled although gw2 did not send the Vendor ID"
    expect_eq "echo replies from hostB" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
    settle
    expect_eq "gw1 tagged (send)" 0 "$(sa_counter gw1 tagged)"
    expect_eq "gw2 untagged (rcv)" 0 "$(sa_counter gw2 untagged)"
    [ "$(sa_counter gw1 notTagged)" -ge 5 ] || fail "gw1 not tagged (send) below 5"
}

# SIGKILL each service of gw1 in turn while hostA pings: traffic on the
# established SA keeps flowing and every service comes back in sync.
lab_service_restart() {
    lab_start
    local service pid before
    for service in cts-binding-store sa-manager ike-negotiator dataplane-tagger; do
        pid=$(supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" pid "$service")
        [ "$pid" -gt 0 ] 2>/dev/null || fail "no PID for $service"
        before=$(sa_counter gw2 untagged)
        kill -KILL "$pid"
        echo "killed $service (PID $pid)"
        # Pings during and after the restart. Only the dataplane carries the
        # packets, so only its restart may cost any: supervisord notices the
        # exit within its one-second loop and starts it again, so traffic
        # must resume within a few seconds.
        local replies waited
        if [ "$service" = dataplane-tagger ]; then
            waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 8)
            [ "$waited" -lt 8 ] || fail "no ping answered within 8 s of killing $service"
            echo "traffic resumed $waited s after $service was killed"
        else
            replies=$(ping_count "$ns_hostA" 203.0.113.2 10)
            expect_eq "pings answered while $service restarted" 10 "$replies"
        fi
        sleep 1.5
        expect_eq "echo replies after $service restarted" 5 \
            "$(ping_count "$ns_hostA" 203.0.113.2 5)"
        settle
        [ "$(sa_counter gw2 untagged)" -gt "$before" ] ||
            fail "gw2 untagged counter did not grow after $service restarted"
        tl gw1 ping | grep -q "$service" || fail "$service did not come back"
    done
    expect_eq "Child SAs on gw1 after all restarts" 1 "$(child_sa_count gw1)"
    tl gw1 show cts role-based sgt-map all | grep -q "192.0.2.2" ||
        fail "binding of 192.0.2.2 lost across restarts"
}

# ------------------------------------------------------------- strongSwan --

peer=$shared/interop/strongswan-peer
sw_ns=$LAB_PREFIX-sw
gw_ns=$LAB_PREFIX-gw
host_ns=$LAB_PREFIX-host
nat_ns=$LAB_PREFIX-nat

interop_cleanup() {
    local status=$?
    if [ $status != 0 ]; then
        [ -d "$LAB_DIR/gw" ] && for log in "$LAB_DIR"/gw/logs/*.log; do
            echo "---- $log"; tail -n 30 "$log"; done
        tail -n 40 "/tmp/strongswan-peer/$sw_ns/charon.log" 2>/dev/null || true
    fi
    [ -d "$LAB_DIR/gw" ] && "$root/compose/gateway" stop --dir "$LAB_DIR/gw" >/dev/null 2>&1
    "$peer" down --ns "$sw_ns" --purge >/dev/null 2>&1 || true
    for ns in "$gw_ns" "$host_ns" "$nat_ns"; do
        ip netns list | grep -q "^$ns\b" && ip netns del "$ns"
    done
    rm -rf "$LAB_DIR"
    exit $status
}

# interop_topology IKE ESP [--outer6] [--nat]: strongSwan with those swanctl
# proposals (and the extra charon log levels of sw_log_levels, if set) in
# sw_ns, hostA in host_ns, and the veths to gw_ns, where Tagline will run. Sets sw_addr and gw_addr, the outside addresses of strongSwan and
# Tagline, and gw_len, the prefix length of Tagline's. interop.sh describes
# --outer6 (interop_outer6_options) and --nat (interop_nat_link).
interop_topology() {
    local ike=$1 esp=$2 outer6=no nat=no
    shift 2
    while [ $# -gt 0 ]; do
        case $1 in
        --outer6) outer6=yes ;;
        --nat) nat=yes ;;
        *) fail "interop_topology: unknown option $1" ;;
        esac
        shift
    done
    require_cmd charon-systemd charon-systemd
    require_cmd swanctl strongswan-swanctl
    [ -x "$peer" ] || fail "strongswan-peer not found at $peer (pass --shared DIR)"
    [ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
        fail "strongSwan's kernel-libipsec plugin is missing; install it: apt-get install -y libcharon-extra-plugins"
    [ $nat = no ] || require_cmd nft nftables
    trap interop_cleanup EXIT
    mkdir -p "$LAB_DIR"

    # strongSwan in sw_ns (198.51.100.2) protecting 203.0.113.0/24; the veth
    # end in gw_ns is named out0. strongSwan ignores the CISCO-CTS-SGT VID.
    sw_addr=198.51.100.2 gw_addr=198.51.100.1 gw_len=24
    link=(--pair "$gw_ns" --peer-if out0 --addr 198.51.100.2/24 --peer-addr 198.51.100.1/24)
    nets=(--local-ts 203.0.113.0/24 --remote-ts 192.0.2.0/24)
    [ $outer6 = no ] || interop_outer6_options
    [ $nat = no ] || interop_nat_link
    "$peer" up --ns "$sw_ns" "${link[@]}" --psk tagline-interop-secret --no-mobike \
        --ike "$ike" --esp "$esp" "${nets[@]}" --inner-addr 203.0.113.1 \
        ${sw_log_levels:+--log-level "$sw_log_levels"}
    ip netns list | grep -q "^$gw_ns\b" || ip netns add "$gw_ns"
    [ $nat = no ] || interop_nat_gateway
    ip netns add "$host_ns"
    ip -n "$host_ns" link set lo up
    ip link add eth0 netns "$host_ns" mtu 1400 type veth peer name in0 netns "$gw_ns" mtu 1400
    ip -n "$host_ns" addr add 192.0.2.2/24 dev eth0
    ip -n "$gw_ns" addr add 192.0.2.1/24 dev in0
    ip -n "$host_ns" link set eth0 up
    ip -n "$gw_ns" link set in0 up
    ip -n "$host_ns" route add default via 192.0.2.1
    ip netns exec "$gw_ns" sysctl -qw net.ipv4.ip_forward=0
    [ $outer6 = no ] || interop_outer6_inside
}

# interop_start ROLE: ROLE "initiator" means Tagline initiates.
interop_start() {
    interop_topology aes128-sha256-ecp256 aes128gcm16

    local map
    if [ "$1" = initiator ]; then
        map="crypto map cmap 10 ipsec-isakmp
 set peer 198.51.100.2
 set transform-set ts
 set ikev2-profile interop
 match address protect"
    else
        map="crypto dynamic-map dmap 10
 set transform-set ts
 set ikev2-profile interop
 match address protect
crypto map cmap 10 ipsec-isakmp dynamic dmap"
    fi
    cat >"$LAB_DIR/gw.cfg" <<CFG
crypto ikev2 proposal interop
 encryption aes-cbc-128
 integrity sha256
 group 19
crypto ikev2 policy interop
 proposal interop
crypto ikev2 keyring keys
 peer sw
  address 198.51.100.2 255.255.255.255
  pre-shared-key tagline-interop-secret
crypto ikev2 profile interop
 match identity remote address 198.51.100.2 255.255.255.255
 authentication local pre-share
 authentication remote pre-share
 keyring local keys
crypto ikev2 cts sgt
crypto ipsec transform-set ts esp-gcm 128
ip access-list extended protect
 permit ip 192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255
$map
interface in0
 ip address 192.0.2.1 255.255.255.0
interface out0
 ip address 198.51.100.1 255.255.255.0
 crypto map cmap
cts role-based sgt-map 192.0.2.2 sgt 333
CFG
    "$root/compose/gateway" start --dir "$LAB_DIR/gw" --config "$LAB_DIR/gw.cfg" --bin "$bin" \
        --netns "$gw_ns" --inside in0 --outside out0
    [ "$1" = responder ] && "$peer" initiate --ns "$sw_ns" --timeout 20
    local deadline=$((SECONDS + 30))
    until "$peer" status --ns "$sw_ns" | grep -q INSTALLED; do
        [ $SECONDS -lt $deadline ] || fail "strongSwan shows no INSTALLED CHILD_SA after 30 s"
        sleep 0.5
    done
    deadline=$((SECONDS + 10))
    until [ "$("$bin/tagline" --run-dir "$LAB_DIR/gw/run" show dataplane --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["installedSAs"])')" -ge 1 ]; do
        [ $SECONDS -lt $deadline ] || fail "Tagline's dataplane holds no SA after 10 s"
        sleep 0.5
    done
    "$peer" status --ns "$sw_ns"
}

interop_traffic() {
    local tl_cli="$bin/tagline --run-dir $LAB_DIR/gw/run"
    $tl_cli show crypto ikev2 sa detailed
    $tl_cli show crypto ikev2 sa detailed | grep -q "Cisco Trust Security SGT is enabled" &&
        fail "SGT reported enabled with strongSwan, which never sends the Vendor ID"
    expect_eq "pings from hostA to strongSwan's inside address" 5 \
        "$(ping_count "$host_ns" 203.0.113.1 5)"
    "$peer" ping-through --ns "$sw_ns" --from 203.0.113.1 --to 192.0.2.2 --count 5 ||
        fail "strongSwan's ping-through to hostA failed"
    sleep 1
    local tagged
    tagged=$($tl_cli show crypto ipsec sa --json | python3 -c '
import json, sys
print(sum(e["counters"]["tagged"] for e in json.load(sys.stdin)["childSAs"]))')
    expect_eq "packets tagged towards strongSwan" 0 "$tagged"
    $tl_cli show crypto ipsec sa detail
}

interop_initiator() {
    interop_start initiator
    interop_traffic
}

interop_responder() {
    interop_start responder
    interop_traffic
}

# Tagline initiates to strongSwan with ChaCha20-Poly1305 for the IKE SA and
# ESP, and with Curve25519 (group 31) for the key exchange. Pings cross both
# ways, and the Child SA counters must match them.
interop_crypto_choices() {
    interop_topology chacha20poly1305-prfsha256-curve25519 chacha20poly1305

    cat >"$LAB_DIR/gw.cfg" <<CFG
crypto ikev2 proposal interop
 encryption chacha20-poly1305
 prf sha256
 group 31
crypto ikev2 policy interop
 proposal interop
crypto ikev2 keyring keys
 peer sw
  address 198.51.100.2 255.255.255.255
  pre-shared-key tagline-interop-secret
crypto ikev2 profile interop
 match identity remote address 198.51.100.2 255.255.255.255
 authentication local pre-share
 authentication remote pre-share
 keyring local keys
crypto ipsec transform-set ts esp-chacha20-poly1305
ip access-list extended protect
 permit ip 192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255
crypto map cmap 10 ipsec-isakmp
 set peer 198.51.100.2
 set transform-set ts
 set ikev2-profile interop
 match address protect
interface in0
 ip address 192.0.2.1 255.255.255.0
interface out0
 ip address 198.51.100.1 255.255.255.0
 crypto map cmap
CFG
    "$root/compose/gateway" start --dir "$LAB_DIR/gw" --config "$LAB_DIR/gw.cfg" --bin "$bin" \
        --netns "$gw_ns" --inside in0 --outside out0
    local deadline=$((SECONDS + 30))
    until "$peer" status --ns "$sw_ns" | grep -q INSTALLED; do
        [ $SECONDS -lt $deadline ] || fail "strongSwan shows no INSTALLED CHILD_SA after 30 s"
        sleep 0.5
    done
    local tl_cli="$bin/tagline --run-dir $LAB_DIR/gw/run"
    deadline=$((SECONDS + 10))
    until [ "$($tl_cli show dataplane --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["installedSAs"])')" -ge 1 ]; do
        [ $SECONDS -lt $deadline ] || fail "Tagline's dataplane holds no SA after 10 s"
        sleep 0.5
    done

    # Both sides name the negotiated algorithms.
    local sw_status
    sw_status=$("$peer" status --ns "$sw_ns")
    echo "$sw_status"
    grep -q "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519" <<<"$sw_status" ||
        fail "strongSwan's IKE SA does not use CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519"
    grep -q "ESP:CHACHA20_POLY1305" <<<"$sw_status" ||
        fail "strongSwan's CHILD_SA does not use ESP:CHACHA20_POLY1305"
    $tl_cli show crypto ikev2 sa detailed
    local ike_sa
    ike_sa=$($tl_cli show crypto ikev2 sa --json | python3 -c '
import json, sys
sa = json.load(sys.stdin)["ikeSAs"][0]
print(sa["encryption"] + "/" + sa["integrity"] + "/" + str(sa["dhGroup"]))')
    expect_eq "Tagline's IKE SA algorithms" "CHACHA20-POLY1305, keysize: 256/None/31" "$ike_sa"

    # 5 echo requests out and 5 replies in, then 5 requests in and 5 replies out.
    expect_eq "pings from hostA to strongSwan's inside address" 5 \
        "$(ping_count "$host_ns" 203.0.113.1 5)"
    "$peer" ping-through --ns "$sw_ns" --from 203.0.113.1 --to 192.0.2.2 --count 5 ||
        fail "strongSwan's ping-through to hostA failed"
    sleep 1
    local counters
    counters=$($tl_cli show crypto ipsec sa --json | python3 -c '
import json, sys
sas = json.load(sys.stdin)["childSAs"]
total = lambda name: sum(e["counters"][name] for e in sas)
names = ("encaps", "decaps", "verify", "verifyFailed", "replayFailed",
         "internalErrorsSend", "internalErrorsReceive")
print(sas[0]["childSA"]["encryption"], *(total(name) for name in names))')
    echo "encryption encaps decaps verify verifyFailed replayFailed errors: $counters"
    expect_eq "Child SA encryption and counters" "chacha20-poly1305 10 10 10 0 0 0 0" "$counters"
    $tl_cli show crypto ipsec sa detail
}


# Both gateways rekey their Child SA every 2560 KB: a 10 MB TCP stream and
# pings cross several rekeys, each one make-before-break, and the counters
# of the current SA keep growing afterwards.
lab_rekey() {
    lab_start --extra-config "crypto ipsec security-association lifetime kilobytes 2560"
    # At 8 Mbit/s the stream lasts about 10 s, so the lifetimes run out a few
    # seconds apart rather than between two of sa-manager's counter checks.
    ip netns exec "$ns_hostA" tc qdisc add dev eth0 root tbf rate 8mbit burst 32kbit latency 400ms
    # gw1's inbound SPIs, one line per poll, every 0.2 s.
    (
        while :; do
            tl gw1 show crypto ipsec sa --json 2>/dev/null | python3 -c '
import json, sys
try:
    reply = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
print(" ".join(str(e["childSA"]["inboundSPI"]) for e in reply.get("childSAs", [])))
' || true
            sleep 0.2
        done
    ) >"$LAB_DIR/spis.txt" &
    local watcher=$!
    ip netns exec "$ns_hostA" ping -c 100 -i 0.1 -W 2 203.0.113.2 >"$LAB_DIR/ping.txt" &
    local pinger=$!
    ip netns exec "$ns_hostB" python3 "$root/compose/lab/tcp-transfer.py" serve 5001 \
        >"$LAB_DIR/tcp.txt" &
    local server=$!
    sleep 0.5
    local sent
    sent=$(ip netns exec "$ns_hostA" python3 "$root/compose/lab/tcp-transfer.py" send \
        203.0.113.2 5001 10000000)
    wait $server
    expect_eq "10 MB TCP stream through the rekeyed tunnel" "$sent" \
        "$(tail -n 1 "$LAB_DIR/tcp.txt")"
    wait $pinger || true
    sleep 3
    kill $watcher 2>/dev/null || true
    wait $watcher 2>/dev/null || true

    local replies
    replies=$(awk '/received/ { print $4 }' "$LAB_DIR/ping.txt")
    [ "$replies" -eq 100 ] || fail "only $replies of 100 pings answered across the rekeys"
    echo "ok: $replies of 100 pings answered across the rekeys"
    local spis
    spis=$(tr ' ' '\n' <"$LAB_DIR/spis.txt" | sort -u | grep -c .)
    [ "$spis" -ge 3 ] || fail "gw1 used $spis inbound SPIs, expected a change at least twice"
    echo "ok: gw1 used $spis inbound SPIs"
    local label
    for label in gw1 gw2; do
        grep -h "kB used up" "$LAB_DIR/$label"/logs/*.log &&
            fail "$label deleted a Child SA at its hard lifetime instead of rekeying it"
    done
    # Packets the gateways dropped around a rekey: no SA, no sequence number
    # leased yet on the new SA, or an SA whose keys disagree.
    local drops
    for label in gw1 gw2; do
        drops=$(tl "$label" show dataplane --json | python3 -c '
import json, sys
drops = json.load(sys.stdin).get("drops", {})
print(sum(drops.get(name, 0) for name in ("noSA", "sequenceExhausted", "integrityFailed")))
print("drops:", drops, file=sys.stderr)')
        # Make-before-break loses nothing: the rekey responder's IKE response
        # leaves once its dataplane has the new SA, and it sends on the new
        # SA only after a packet arrived on it or the old SA is gone.
        expect_eq "$label drops for no SA, no sequence number or integrity" 0 "$drops"
    done
    expect_eq "Child SAs on gw1 after the rekeys" 1 "$(child_sa_count gw1)"
    expect_eq "Child SAs on gw2 after the rekeys" 1 "$(child_sa_count gw2)"

    local tagged0 untagged0
    tagged0=$(sa_counter gw1 tagged)
    untagged0=$(sa_counter gw2 untagged)
    expect_eq "echo replies after the rekeys" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
    settle
    [ $(($(sa_counter gw1 tagged) - tagged0)) -ge 5 ] ||
        fail "gw1 tagged (send) did not grow by 5 after the rekeys"
    [ $(($(sa_counter gw2 untagged) - untagged0)) -ge 5 ] ||
        fail "gw2 untagged (rcv) did not grow by 5 after the rekeys"
    echo "ok: tagged and untagged counters grow after the rekeys"
}

# inbound_spis GW: the gateway's Child SA inbound SPIs, sorted, on one line.
inbound_spis() {
    tl "$1" show crypto ipsec sa --json 2>/dev/null | python3 -c '
import json, sys
try:
    reply = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
print(" ".join(sorted(str(e["childSA"]["inboundSPI"]) for e in reply.get("childSAs", []))))
'
}

# ike_local_spis GW: the local SPIs of the gateway's IKE SAs, on one line.
ike_local_spis() {
    tl "$1" show crypto ikev2 sa --json | python3 -c '
import json, sys
print(" ".join(sa["localSPI"] for sa in json.load(sys.stdin)["ikeSAs"]))'
}

# `clear crypto sa` deletes the Child SA pair on both gateways with an
# INFORMATIONAL Delete and keeps the IKE SA. The initiator then creates a
# fresh pair with CREATE_CHILD_SA, and traffic flows again.
lab_clear_child_sas() {
    lab_start
    local spis_before ike_before
    spis_before=$(inbound_spis gw1)
    ike_before=$(ike_local_spis gw1)
    expect_eq "clear crypto sa peer of another address" "cleared 0 Child SAs of peer 198.51.100.9" \
        "$(tl gw1 clear crypto sa peer 198.51.100.9)"
    expect_eq "clear crypto sa" "cleared 1 Child SA" "$(tl gw1 clear crypto sa)"
    local start=$SECONDS spis=$spis_before
    while [ $((SECONDS - start)) -lt 30 ]; do
        spis=$(inbound_spis gw1)
        [ -n "$spis" ] && [ "$spis" != "$spis_before" ] && [ "$(child_sa_count gw2)" = 1 ] &&
            break
        sleep 0.5
    done
    [ -n "$spis" ] && [ "$spis" != "$spis_before" ] ||
        fail "gw1 has inbound SPIs '$spis' 30 s after clear crypto sa, before '$spis_before'"
    echo "ok: gw1 inbound SPIs $spis_before replaced by $spis"
    expect_eq "Child SAs on gw1" 1 "$(child_sa_count gw1)"
    expect_eq "Child SAs on gw2" 1 "$(child_sa_count gw2)"
    expect_eq "gw1's IKE SA after clear crypto sa" "$ike_before" "$(ike_local_spis gw1)"
    expect_eq "echo replies over the fresh pair" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
}
# shellcheck source=interop.sh
. "$here/interop.sh"
# shellcheck source=interop-pfs.sh
. "$here/interop-pfs.sh"
# shellcheck source=hostile.sh
. "$here/hostile.sh"
# shellcheck source=interop-esn.sh
. "$here/interop-esn.sh"
# shellcheck source=workers.sh
. "$here/workers.sh"
# shellcheck source=fragments.sh
. "$here/fragments.sh"
# shellcheck source=churn.sh
. "$here/churn.sh"
# shellcheck source=sxp.sh
. "$here/sxp.sh"
# shellcheck source=bindings-scale.sh
. "$here/bindings-scale.sh"
# shellcheck source=transit.sh
. "$here/transit.sh"
# shellcheck source=relink.sh
. "$here/relink.sh"

"$1"
