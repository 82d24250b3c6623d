# shellcheck shell=bash
# Interop tests against strongSwan: Child SA rekey, deletes from either
# side, NAT traversal, several Child SAs under one IKE SA, an IPv6 outside
# link, dead peer detection and IKE SA rekey. tests.sh sources this file and
# provides interop_topology, interop_cleanup, fail, expect_eq and ping_count.
# Each test takes less than a minute.

sw_dir=/tmp/strongswan-peer/$sw_ns

# sw ARGS...: swanctl against the strongSwan instance of this test.
sw() {
    STRONGSWAN_CONF=$sw_dir/strongswan.conf swanctl "$@" --uri "unix://$sw_dir/charon.vici"
}

# tl_cli ARGS...: the tagline CLI against the gateway of this test.
tl_cli() { "$bin/tagline" --run-dir "$LAB_DIR/gw/run" "$@"; }

# ------------------------------------------------------------- topologies --

# The --outer6 form of interop_topology: the outside link is 2001:db8:100::/64
# (strongSwan ::2, Tagline ::1) and strongSwan protects 203.0.113.0/24 and
# 2001:db8:2::/64, Tagline 192.0.2.0/24 and 2001:db8:1::/64.
interop_outer6_options() {
    sw_addr=2001:db8:100::2 gw_addr=2001:db8:100::1 gw_len=64
    link=(--pair "$gw_ns" --peer-if out0 --addr 2001:db8:100::2/64
        --peer-addr 2001:db8:100::1/64)
    nets=(--local-ts 203.0.113.0/24,2001:db8:2::/64 --remote-ts 192.0.2.0/24,2001:db8:1::/64)
}

# Adds the IPv6 inside addresses of the --outer6 topology once the links exist.
interop_outer6_inside() {
    # kernel-libipsec installs a route only with a local address inside the local selector.
    ip -n "$sw_ns" addr add 2001:db8:2::1/128 dev lo
    ip -n "$host_ns" addr add 2001:db8:1::2/64 dev eth0 nodad
    ip -n "$gw_ns" addr add 2001:db8:1::1/64 dev in0 nodad
    ip -n "$host_ns" -6 route add default via 2001:db8:1::1
}

# The --nat form of interop_topology: strongSwan's veth ends in nat_ns, which
# masquerades Tagline's 198.51.100.130/25 behind its own 198.51.100.1/25. It
# also maps UDP source ports to 40000-49999, so the address and the ports of
# Tagline's IKE and ESP both change on the way.
interop_nat_link() {
    gw_addr=198.51.100.130 gw_len=25
    link=(--pair "$nat_ns" --peer-if natsw0 --addr 198.51.100.2/25 --peer-addr 198.51.100.1/25
        --remote-id 198.51.100.130)
}

# Links gw_ns to nat_ns and loads the masquerade rules, after strongswan-peer
# created nat_ns.
interop_nat_gateway() {
    ip link add out0 netns "$gw_ns" type veth peer name natgw0 netns "$nat_ns"
    ip -n "$nat_ns" addr add 198.51.100.129/25 dev natgw0
    ip -n "$gw_ns" addr add 198.51.100.130/25 dev out0
    ip -n "$nat_ns" link set natgw0 up
    ip -n "$gw_ns" link set out0 up
    ip -n "$gw_ns" link set lo up
    ip -n "$gw_ns" route add default via 198.51.100.129
    ip netns exec "$nat_ns" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$nat_ns" nft -f - <<'NFT'
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "natsw0" meta l4proto udp masquerade to :40000-49999
        oifname "natsw0" masquerade
    }
}
NFT
}

# ------------------------------------------------------ Tagline's config --

# interop_write_config ROLE: writes Tagline's configuration for the topology
# to $LAB_DIR/gw.cfg. ROLE "initiator" gives a static crypto map entry per
# access list, "responder" a dynamic map. Optional variables: acl4 (the IPv4
# access list lines, default one line 192.0.2.0/24 to 203.0.113.0/24), acl6
# (IPv6 lines, default none), map_extra (lines for each map entry),
# profile_extra (lines for the IKEv2 profile) and extra (global lines).
# peer_match replaces strongSwan's address in the keyring and profile match.
interop_write_config() {
    local role=$1 match mask acl sequence=10
    local lines4=("${acl4[@]:-permit ip 192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255}")
    case $gw_len in
    64) match="$sw_addr/128" ;;
    25) match="$sw_addr 255.255.255.255" mask=255.255.255.128 ;;
    *) match="$sw_addr 255.255.255.255" mask=255.255.255.0 ;;
    esac
    match=${peer_match:-$match}
    {
        echo "crypto ikev2 proposal interop"
        echo " encryption aes-cbc-128"
        echo " integrity sha256"
        echo " group 19"
        echo "crypto ikev2 policy interop"
        echo " proposal interop"
        echo "crypto ikev2 keyring keys"
        echo " peer sw"
        echo "  address $match"
        echo "  pre-shared-key tagline-interop-secret"
        echo "crypto ikev2 profile interop"
        echo " match identity remote address $match"
        echo " authentication local pre-share"
        echo " authentication remote pre-share"
        echo " keyring local keys"
        [ -n "${profile_extra:-}" ] && echo "$profile_extra"
        echo "crypto ikev2 cts sgt"
        echo "crypto ipsec transform-set ts esp-gcm 128"
        echo "ip access-list extended protect4"
        printf ' %s\n' "${lines4[@]}"
        local acls=(protect4)
        if [ -n "${acl6:-}" ]; then
            echo "ipv6 access-list protect6"
            printf ' %s\n' "${acl6[@]}"
            acls=(protect6 protect4)
        fi
        for acl in "${acls[@]}"; do
            if [ "$role" = initiator ]; then
                echo "crypto map cmap $sequence ipsec-isakmp"
                echo " set peer $sw_addr"
            else
                echo "crypto dynamic-map dmap $sequence"
            fi
            echo " set transform-set ts"
            echo " set ikev2-profile interop"
            echo " match address $acl"
            [ -n "${map_extra:-}" ] && echo "$map_extra"
            sequence=$((sequence + 10))
        done
        [ "$role" = responder ] && echo "crypto map cmap 10 ipsec-isakmp dynamic dmap"
        echo "interface in0"
        echo " ip address 192.0.2.1 255.255.255.0"
        [ "$gw_len" = 64 ] && echo " ipv6 address 2001:db8:1::1/64"
        echo "interface out0"
        if [ "$gw_len" = 64 ]; then
            echo " ipv6 address $gw_addr/64"
            echo " ipv6 crypto map cmap"
        else
            echo " ip address $gw_addr $mask"
            echo " crypto map cmap"
        fi
        echo "cts role-based sgt-map 192.0.2.2 sgt 333"
        [ -n "${extra:-}" ] && echo "$extra"
        true
    } >"$LAB_DIR/gw.cfg"
}

# interop_up ROLE [COUNT]: starts Tagline with its configuration. With ROLE
# "responder" strongSwan then initiates. Waits until strongSwan shows COUNT
# (default 1) installed Child SAs and Tagline's dataplane has as many.
interop_up() {
    local count=${2:-1}
    "$root/compose/gateway" start --dir "$LAB_DIR/gw" --config "$LAB_DIR/gw.cfg" --bin "$bin" \
        --netns "$gw_ns" --inside in0 --outside out0
    [ "$1" = responder ] && "$peer" initiate --ns "$sw_ns" --timeout 20
    wait_for_sas 30 "$count" || fail "no $count Child SAs on both sides after 30 s"
    sw --list-sas
}

# sw_installed_count: number of INSTALLED Child SAs strongSwan lists.
sw_installed_count() { sw --list-sas 2>/dev/null | grep -c INSTALLED || true; }

# tl_installed_count: number of SA pairs in Tagline's dataplane.
tl_installed_count() {
    tl_cli show dataplane --json 2>/dev/null | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["installedSAs"])
except (ValueError, KeyError):
    print(0)'
}

# wait_for_sas SECONDS COUNT: waits until strongSwan and Tagline's dataplane
# both have COUNT Child SAs and their SPIs pair up; returns 1 after SECONDS.
wait_for_sas() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        if [ "$(sw_installed_count)" = "$2" ] && [ "$(tl_installed_count)" = "$2" ] &&
            spis_pair_up; then
            return 0
        fi
        sleep 0.5
    done
    echo "strongSwan: $(sw_spis); Tagline: $(tl_spis)"
    return 1
}

# sw_spis: strongSwan's Child SA SPIs as sorted "in/out" pairs of hex words.
sw_spis() {
    sw --list-sas 2>/dev/null | awk '
        $1 == "in" { spi_in = $2 }
        $1 == "out" { print spi_in "/" $2 }' | tr -d ',' | sort | tr '\n' ' '
}

# tl_spis: Tagline's Child SA SPIs from sa-manager, seen from strongSwan's
# side (Tagline's outbound SPI is strongSwan's inbound one), in the form of sw_spis.
tl_spis() {
    tl_cli show crypto ipsec sa --json 2>/dev/null | python3 -c '
import json, sys
try:
    entries = json.load(sys.stdin)["childSAs"]
except (ValueError, KeyError):
    entries = []
print(" ".join(sorted("%08x/%08x" % (e["childSA"]["outboundSPI"], e["childSA"]["inboundSPI"])
                      for e in entries)) + (" " if entries else ""))' | tr -d '\n'
}

# spis_pair_up: true when both sides list the same Child SAs.
spis_pair_up() { [ -n "$(sw_spis)" ] && [ "$(sw_spis)" = "$(tl_spis)" ]; }

# tl_ike_field FIELD: FIELD of each IKE SA Tagline lists, one per line.
tl_ike_field() {
    tl_cli show crypto ikev2 sa --json | python3 -c '
import json, sys
for sa in json.load(sys.stdin)["ikeSAs"]:
    print(sa[sys.argv[1]])' "$1"
}

# tl_packets: encaps and decaps summed over Tagline's Child SAs, as "ENCAPS DECAPS".
tl_packets() {
    tl_cli show crypto ipsec sa --json | python3 -c '
import json, sys
entries = json.load(sys.stdin)["childSAs"]
print(sum(e["counters"]["encaps"] for e in entries), sum(e["counters"]["decaps"] for e in entries))'
}

# interop_pings [FROM TO]: 5 pings from hostA to TO (default 203.0.113.1) and
# 5 from FROM (default 203.0.113.1) in strongSwan's namespace to hostA. Each
# must get a reply, and Tagline's counters must grow by 10 each way.
interop_pings() {
    local from=${1:-203.0.113.1} to=${2:-203.0.113.1} host=192.0.2.2 before after
    case $to in *:*) host=2001:db8:1::2 ;; esac
    before=$(tl_packets)
    expect_eq "pings from hostA to $to" 5 "$(ping_count "$host_ns" "$to" 5)"
    "$peer" ping-through --ns "$sw_ns" --from "$from" --to "$host" --count 5 ||
        fail "strongSwan's ping-through from $from to $host failed"
    sleep 1
    after=$(tl_packets)
    set -- $before $after
    expect_eq "Tagline's encaps and decaps growth" "10 10" "$(($3 - $1)) $(($4 - $2))"
}

# -------------------------------------------------------------- the tests --

# A Child SA rekeyed by strongSwan (swanctl --rekey) and by Tagline (a
# 2560 KB lifetime on its crypto map entry, the smallest IOS accepts). Each
# time both sides move to new SPIs and drop the old ones, and pings keep
# crossing. The smallest time lifetime, 120 s, would make the test too slow.
interop_rekey_child() {
    interop_topology aes128-sha256-ecp256 aes128gcm16
    map_extra=" set security-association lifetime kilobytes 2560"
    interop_write_config initiator
    interop_up initiator
    interop_pings
    interop_sw_rekey_child
    interop_tl_rekey_child
    expect_eq "IKE SAs on Tagline" 1 "$(tl_ike_field tunnelID | wc -l)"
    interop_pings
}

# interop_sw_rekey_child: strongSwan rekeys the Child SA (swanctl --rekey)
# while hostA sends 40 pings. Both sides move to new SPIs, at most one ping
# is lost, and pings cross afterwards.
interop_sw_rekey_child() {
    local first second pinger replies
    first=$(sw_spis)
    ip netns exec "$host_ns" ping -c 40 -i 0.1 -W 2 203.0.113.1 >"$LAB_DIR/ping1.txt" &
    pinger=$!
    sleep 1
    sw --rekey --child net
    wait $pinger || true
    wait_for_sas 10 1 || fail "the SAs do not pair up 10 s after strongSwan's rekey"
    second=$(sw_spis)
    [ "$second" != "$first" ] || fail "strongSwan's rekey left the SPIs at $first"
    echo "ok: strongSwan's rekey replaced $first with $second on both sides"
    replies=$(awk '/received/ { print $4 }' "$LAB_DIR/ping1.txt")
    [ "$replies" -ge 39 ] || fail "only $replies of 40 pings answered across strongSwan's rekey"
    interop_pings
}

# interop_transfer BYTES DESCRIPTION: sends BYTES over TCP from hostA to
# 203.0.113.1 in strongSwan's namespace and checks they all arrived.
interop_transfer() {
    local server sent
    ip netns exec "$sw_ns" python3 "$root/compose/lab/tcp-transfer.py" serve 5001 \
        >"$LAB_DIR/tcp.txt" &
    server=$!
    sleep 0.3
    sent=$(ip netns exec "$host_ns" python3 "$root/compose/lab/tcp-transfer.py" send \
        203.0.113.1 5001 "$1")
    wait $server
    expect_eq "$2" "$sent" "$(tail -n 1 "$LAB_DIR/tcp.txt")"
}

# interop_tl_rekey_child: 3 MB through the tunnel pass the 2560 KB lifetime
# of Tagline's crypto map entry, so Tagline rekeys the Child SA while hostA
# sends 100 pings. Both sides move to new SPIs, the stream arrives whole and
# at most two pings are lost.
interop_tl_rekey_child() {
    local before after pinger replies
    before=$(sw_spis)
    ip netns exec "$host_ns" ping -c 100 -i 0.1 -W 2 203.0.113.1 >"$LAB_DIR/ping2.txt" &
    pinger=$!
    sleep 0.5
    interop_transfer 3000000 "3 MB TCP stream across Tagline's rekey"
    wait $pinger || true
    wait_for_sas 15 1 || fail "the SAs do not pair up 15 s after Tagline's rekey"
    after=$(sw_spis)
    [ "$after" != "$before" ] || fail "Tagline did not rekey at 2560 KB (SPIs still $before)"
    echo "ok: Tagline's rekey replaced $before with $after on both sides"
    grep -q "parsed CREATE_CHILD_SA request" "$sw_dir/charon.log" ||
        fail "strongSwan's log shows no CREATE_CHILD_SA request from Tagline"
    grep -h "kB used up" "$LAB_DIR"/gw/logs/*.log &&
        fail "Tagline deleted the Child SA at its hard lifetime instead of rekeying it"
    replies=$(awk '/received/ { print $4 }' "$LAB_DIR/ping2.txt")
    [ "$replies" -ge 98 ] || fail "only $replies of 100 pings answered across Tagline's rekey"
    echo "ok: $replies of 100 pings answered across Tagline's rekey"
}

# sw_ike_count: number of IKE SAs strongSwan lists.
sw_ike_count() { sw --list-sas 2>/dev/null | grep -c ESTABLISHED || true; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.5 s and
# fails the test naming DESCRIPTION when it is still false after SECONDS.
wait_until() {
    local deadline=$(($SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        [ $SECONDS -lt $deadline ] || fail "$what did not happen within the time allowed"
        sleep 0.5
    done
    echo "ok: $what"
}

no_sw_child() { [ "$(sw_installed_count)" = 0 ]; }
no_sw_ike() { [ "$(sw_ike_count)" = 0 ]; }
no_tl_child() { [ "$(tl_installed_count)" = 0 ]; }
no_tl_ike() { [ -z "$(tl_ike_field tunnelID)" ]; }

# Deletes from either side, Tagline first as initiator, then as responder.
# Tagline as initiator sets the IKE SA up again after an IKE SA delete.
interop_delete() {
    interop_topology aes128-sha256-ecp256 aes128gcm16
    interop_write_config initiator
    interop_up initiator
    local old

    old=$(sw_spis)
    tl_cli clear crypto ikev2 sa
    wait_until 10 "strongSwan set up new SAs after tagline clear crypto ikev2 sa" \
        eval '[ "$(sw_spis)" != "$old" ] && spis_pair_up'
    expect_eq "IKE SAs on strongSwan" 1 "$(sw_ike_count)"
    interop_pings

    # Tagline, the initiator, sets a fresh Child SA up under the same IKE SA.
    old=$(sw_spis)
    local ike
    ike=$(tl_ike_field localSPI)
    sw --terminate --child net
    wait_until 10 "Tagline set up a fresh Child SA after strongSwan deleted its own" \
        eval '[ "$(sw_spis)" != "$old" ] && spis_pair_up'
    expect_eq "Tagline's IKE SA after the Child SA delete" "$ike" "$(tl_ike_field localSPI)"
    expect_eq "Child SAs on strongSwan" 1 "$(sw_installed_count)"
    interop_pings

    old=$(tl_ike_field localSPI)
    sw --terminate --ike peer
    wait_until 30 "Tagline set up a new IKE SA after strongSwan deleted its own" \
        eval '[ "$(tl_ike_field localSPI)" != "$old" ] && [ -n "$(tl_ike_field localSPI)" ] &&
            spis_pair_up'
    interop_pings

    # Tagline as responder: strongSwan initiates, and neither side sets up again.
    "$root/compose/gateway" stop --dir "$LAB_DIR/gw" >/dev/null
    sw --terminate --ike peer --force >/dev/null 2>&1 || true
    rm -rf "$LAB_DIR/gw"
    interop_write_config responder
    interop_up responder
    interop_pings

    sw --terminate --child net
    wait_until 10 "Tagline removed the Child SA strongSwan deleted" no_tl_child
    expect_eq "IKE SAs on Tagline after the Child SA delete" 1 "$(tl_ike_field tunnelID | wc -l)"
    sw --initiate --child net --timeout 20 >/dev/null || fail "strongSwan could not add a Child SA"
    wait_for_sas 10 1 || fail "the new Child SA does not pair up"
    interop_pings

    sw --terminate --ike peer
    wait_until 10 "Tagline removed the IKE SA strongSwan deleted" no_tl_ike
    "$peer" initiate --ns "$sw_ns" --timeout 20
    wait_for_sas 10 1 || fail "the SAs strongSwan initiated again do not pair up"

    tl_cli clear crypto ikev2 sa
    wait_until 10 "strongSwan removed the IKE SA Tagline cleared" no_sw_ike
    no_sw_child || fail "strongSwan kept a Child SA of the deleted IKE SA"
    wait_until 5 "Tagline removed its Child SA" no_tl_child
}

# Tagline behind a NAT that changes its address and its UDP ports:
# both sides detect the NAT, IKE and ESP move to UDP 4500, and traffic flows.
interop_nat() {
    interop_topology aes128-sha256-ecp256 aes128gcm16 --nat
    interop_write_config initiator
    interop_up initiator
    expect_eq "NAT detected by Tagline" True "$(tl_ike_field natDetected)"
    expect_eq "Tagline's IKE local port" 4500 "$(tl_ike_field localPort)"
    expect_eq "Tagline's IKE remote port" 4500 "$(tl_ike_field remotePort)"
    local sw_sas
    sw_sas=$(sw --list-sas)
    echo "$sw_sas"
    grep -Eq "remote '198.51.100.130' @ 198.51.100.1\[4[0-9]{4}\]" <<<"$sw_sas" ||
        fail "strongSwan does not see Tagline at 198.51.100.1 with a mapped port 40000-49999"
    grep -q "TUNNEL-in-UDP" <<<"$sw_sas" || fail "strongSwan's Child SA is not ESP in UDP"
    interop_pings
    tl_cli show crypto ipsec sa detail
}

# Two Child SAs under one IKE SA: 192.0.2.0/25 with 203.0.113.0/25, and
# 192.0.2.128/25 with 203.0.113.128/25, from two lines of Tagline's access
# list and two children of strongSwan's connection. Tagline initiates, then
# strongSwan does.
interop_several_children() {
    interop_topology aes128-sha256-ecp256 aes128gcm16
    # The second child in strongSwan's configuration, beside 'net'.
    python3 - "$sw_dir/swanctl/swanctl.conf" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
text = text.replace("203.0.113.0/24", "203.0.113.0/25").replace("192.0.2.0/24", "192.0.2.0/25")
second = """        children {
            net2 {
                mode = tunnel
                local_ts = 203.0.113.128/25
                remote_ts = 192.0.2.128/25
                esp_proposals = aes128gcm16
                start_action = none
            }"""
text = text.replace("        children {", second, 1)
open(path, "w").write(text)
PY
    sw --load-conns --file "$sw_dir/swanctl/swanctl.conf" >/dev/null
    ip -n "$sw_ns" addr add 203.0.113.129/32 dev lo
    ip -n "$host_ns" addr add 192.0.2.130/24 dev eth0
    acl4=("permit ip 192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.127"
        "permit ip 192.0.2.128 0.0.0.127 203.0.113.128 0.0.0.127")
    interop_write_config initiator
    interop_up initiator 2
    expect_eq "IKE SAs on Tagline" 1 "$(tl_ike_field tunnelID | wc -l)"
    expect_eq "IKE SAs on strongSwan" 1 "$(sw_ike_count)"
    interop_child_traffic

    "$root/compose/gateway" stop --dir "$LAB_DIR/gw" >/dev/null
    sw --terminate --ike peer --force >/dev/null 2>&1 || true
    rm -rf "$LAB_DIR/gw"
    interop_write_config responder
    "$root/compose/gateway" start --dir "$LAB_DIR/gw" --config "$LAB_DIR/gw.cfg" --bin "$bin" \
        --netns "$gw_ns" --inside in0 --outside out0
    "$peer" initiate --ns "$sw_ns" --timeout 20
    sw --initiate --child net2 --timeout 20 >/dev/null || fail "strongSwan could not add net2"
    wait_for_sas 10 2 || fail "the two Child SAs strongSwan initiated do not pair up"
    expect_eq "IKE SAs on Tagline (responder)" 1 "$(tl_ike_field tunnelID | wc -l)"
    interop_child_traffic
}

# Pings through each of the two Child SAs of interop_several_children; each
# SA's counters must grow by 5 each way.
interop_child_traffic() {
    local before after
    before=$(tl_child_packets)
    expect_eq "pings 192.0.2.2 -> 203.0.113.1" 5 "$(ping_count "$host_ns" 203.0.113.1 5)"
    local replies
    replies=$({ ip netns exec "$host_ns" ping -I 192.0.2.130 -c 5 -i 0.2 -W 2 203.0.113.129 ||
        true; } | awk '/received/ { print $4 }')
    expect_eq "pings 192.0.2.130 -> 203.0.113.129" 5 "$replies"
    sleep 1
    after=$(tl_child_packets)
    expect_eq "encaps and decaps per Child SA before" 2 "$(wc -w <<<"$before" | tr -d ' ')"
    python3 - "$before" "$after" <<'PY' || fail "a Child SA did not carry its 5 pings each way"
import sys
before = dict(w.split("=") for w in sys.argv[1].split())
after = dict(w.split("=") for w in sys.argv[2].split())
for net, counts in after.items():
    old = before.get(net, "0,0").split(",")
    new = counts.split(",")
    growth = [int(n) - int(o) for n, o in zip(new, old)]
    print(net, "encaps/decaps growth", growth)
    if growth != [5, 5]:
        sys.exit(1)
PY
    "$peer" ping-through --ns "$sw_ns" --from 203.0.113.129 --to 192.0.2.130 --count 3 ||
        fail "strongSwan's ping-through 203.0.113.129 -> 192.0.2.130 failed"
}

# tl_child_packets: "LOCALNET=ENCAPS,DECAPS" per Tagline Child SA.
tl_child_packets() {
    tl_cli show crypto ipsec sa --json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["childSAs"]:
    c = e["counters"]
    print("%s=%d,%d" % (e["childSA"]["localSelectors"][0]["startAddress"], c["encaps"], c["decaps"]))
' | tr '\n' ' '
}

# An IPv6 outside link: Tagline's two crypto map entries (IPv6 and IPv4
# selectors) share one IKE SA over 2001:db8:100::/64 with strongSwan, and
# IPv6 and IPv4 pings cross both ways. Then strongSwan initiates.
interop_ipv6() {
    interop_topology aes128-sha256-ecp256 aes128gcm16 --outer6
    acl6=("permit ipv6 2001:db8:1::/64 2001:db8:2::/64")
    interop_write_config initiator
    interop_up initiator 2
    expect_eq "Tagline's IKE SA local addresses" "2001:db8:100::1" \
        "$(tl_ike_field localAddress | tr '\n' ' ' | sed 's/ $//')"
    expect_eq "Tagline's IKE SA remote addresses" "2001:db8:100::2" \
        "$(tl_ike_field remoteAddress | tr '\n' ' ' | sed 's/ $//')"
    sw --list-sas | grep -q "local  '2001:db8:100::2' @ 2001:db8:100::2\[4500\]" ||
        fail "strongSwan's IKE SA is not on 2001:db8:100::2"
    interop_pings 2001:db8:2::1 2001:db8:2::1
    interop_pings

    # strongSwan initiates one Child SA for both families. Tagline's first
    # dynamic map entry, the IPv6 one, narrows it to the IPv6 selectors.
    "$root/compose/gateway" stop --dir "$LAB_DIR/gw" >/dev/null
    sw --terminate --ike peer --force >/dev/null 2>&1 || true
    rm -rf "$LAB_DIR/gw"
    interop_write_config responder
    interop_up responder
    expect_eq "Tagline's IKE SA as responder" "2001:db8:100::1 False" \
        "$(tl_ike_field localAddress) $(tl_ike_field isInitiator)"
    expect_eq "strongSwan's Child SA selectors" "2001:db8:2::/64 2001:db8:1::/64" \
        "$(sw --list-sas | awk '$1 == "local" || $1 == "remote" { if ($2 ~ /\//) printf "%s ", $2 }' |
            sed 's/ $//')"
    interop_pings 2001:db8:2::1 2001:db8:2::1
}

# Dead peer detection: strongSwan dies, and Tagline's periodic DPD (every
# 10 s, retries 3 s apart) removes the SAs and keeps trying to set them up again.
interop_dpd() {
    interop_topology aes128-sha256-ecp256 aes128gcm16
    profile_extra=" dpd 10 3 periodic"
    interop_write_config initiator
    interop_up initiator
    interop_pings
    # SIGKILL, because charon sends a Delete for its IKE SA when it stops cleanly.
    local charon
    charon=$(cat "$sw_dir/charon.pid")
    kill -KILL "$charon"
    wait_until 50 "Tagline removed the SAs of the dead peer" no_tl_ike_ready
    no_tl_child || fail "Tagline kept a Child SA of the dead peer"
    wait_until 20 "Tagline tries to set the SA up again" tl_ike_negotiating
}

no_tl_ike_ready() { ! tl_ike_field status | grep -q READY; }
tl_ike_negotiating() { tl_ike_field status | grep -q IN-NEG; }

# IKE SA rekey by strongSwan (swanctl --rekey --ike) and by Tagline (a
# 120 s IKE lifetime, the smallest IOS accepts, rekeyed at its soft
# lifetime): the IKE SA SPIs change on both sides, the Child SA stays, and
# pings cross. Waiting for Tagline's own rekey takes up to 2 minutes.
interop_rekey_ike() {
    interop_topology aes128-sha256-ecp256 aes128gcm16
    profile_extra=" lifetime 120"
    interop_write_config initiator
    interop_up initiator
    interop_pings
    interop_sw_rekey_ike
    local old child
    child=$(sw_spis)
    old=$(tl_ike_field localSPI)
    wait_until 120 "Tagline rekeyed its IKE SA before its 120 s lifetime" \
        eval '[ "$(tl_ike_field localSPI)" != "$old" ] && [ "$(tl_ike_field localSPI | wc -l)" = 1 ]'
    expect_eq "IKE SAs on strongSwan" 1 "$(sw_ike_count)"
    expect_eq "Child SA SPIs across Tagline's IKE SA rekey" "$child" "$(sw_spis)"
    interop_pings
}

# interop_sw_rekey_ike: strongSwan rekeys its IKE SA (swanctl --rekey --ike).
# A rekey moves the Child SA to the new IKE SA unchanged. A fallback to a
# new IKE SA from IKE_SA_INIT would bring new Child SA SPIs. Pings cross afterwards.
interop_sw_rekey_ike() {
    local old child
    old=$(tl_ike_field localSPI)
    child=$(sw_spis)
    sw --rekey --ike peer
    wait_until 10 "Tagline moved to the IKE SA strongSwan rekeyed" \
        eval '[ "$(tl_ike_field localSPI)" != "$old" ] && [ "$(tl_ike_field localSPI | wc -l)" = 1 ]'
    expect_eq "IKE SAs on strongSwan" 1 "$(sw_ike_count)"
    wait_for_sas 5 1 || fail "the Child SA does not pair up after the IKE SA rekey"
    expect_eq "Child SA SPIs across strongSwan's IKE SA rekey" "$child" "$(sw_spis)"
    interop_pings
}

# ------------------------------------------------------ the two-gateway lab --

# The lab with an IPv6 outside link (compose/lab/lab up --outer6). IPv6 and
# IPv4 pings between hostA and hostB cross tagged both ways, each family on
# its own Child SA, and the counters match. Nothing but IKE, ESP and
# neighbour discovery crosses the outside link, and no ICMPv6 error from a
# gateway's kernel reaches hostA.
lab_outer6() {
    require_cmd ip iproute2
    require_cmd ping iputils-ping
    require_cmd supervisord supervisor
    require_cmd tcpdump tcpdump
    trap lab_cleanup EXIT
    "$lab" up --bin "$bin" --outer6
    wait_for_tunnel 30 2 || fail "the two Child SAs did not come up within 30 s"
    tl gw1 show crypto ikev2 sa --json | python3 -c '
import json, sys
sas = json.load(sys.stdin)["ikeSAs"]
pairs = sorted((sa["localAddress"], sa["remoteAddress"], sa["sgtEnabled"]) for sa in sas)
print(pairs)
sys.exit(0 if pairs == [("2001:db8:100::1", "2001:db8:100::2", True)] else 1)' ||
        fail "gw1's IKE SAs are not one tagging SA from 2001:db8:100::1 to 2001:db8:100::2"

    tl gw1 debug crypto ipsec metadata sgt --duration 6 >"$LAB_DIR/gw1-sgt.txt" 2>&1 &
    local debug1=$!
    tl gw2 debug crypto ipsec metadata sgt --duration 6 >"$LAB_DIR/gw2-sgt.txt" 2>&1 &
    local debug2=$!
    ip netns exec "$ns_gw2" tcpdump -n -i out0 -w "$LAB_DIR/outside.pcap" \
        'not (udp port 500 or ip6 proto 50 or (ip6 and src net fe80::/10) or
              (icmp6 and ip6[40] >= 133 and ip6[40] <= 136))' \
        >/dev/null 2>&1 &
    local capture=$!
    ip netns exec "$ns_hostA" tcpdump -n -i eth0 -w "$LAB_DIR/hostA.pcap" \
        'icmp6 and ip6[40] < 128' >/dev/null 2>&1 &
    local capture_host=$!
    sleep 1

    local tagged0 untagged0
    tagged0=$(sa_counter gw1 tagged)
    untagged0=$(sa_counter gw2 untagged)
    expect_eq "IPv6 echo replies from hostB" 10 "$(ping_count "$ns_hostA" 2001:db8:2::2 10)"
    expect_eq "IPv4 echo replies from hostB" 10 "$(ping_count "$ns_hostA" 203.0.113.2 10)"
    expect_eq "IPv6 echo replies from hostA" 5 "$(ping_count "$ns_hostB" 2001:db8:1::2 5)"
    settle
    expect_eq "gw1 tagged (send) delta" 25 $(($(sa_counter gw1 tagged) - tagged0))
    expect_eq "gw2 untagged (rcv) delta" 25 $(($(sa_counter gw2 untagged) - untagged0))

    wait $debug1 $debug2 || true
    kill -INT $capture $capture_host 2>/dev/null || true
    wait $capture $capture_host 2>/dev/null || true
    grep -q 'inserted SGT = 336 for src ip 2001:db8:1::2' "$LAB_DIR/gw1-sgt.txt" ||
        fail "gw1 debug output lacks 'inserted SGT = 336 for src ip 2001:db8:1::2'"
    grep -q 'extracted SGT = 336 for src ip 2001:db8:1::2' "$LAB_DIR/gw2-sgt.txt" ||
        fail "gw2 debug output lacks 'extracted SGT = 336 for src ip 2001:db8:1::2'"
    grep -q 'extracted SGT = 406 for src ip 2001:db8:2::2' "$LAB_DIR/gw1-sgt.txt" ||
        fail "gw1 debug output lacks 'extracted SGT = 406 for src ip 2001:db8:2::2'"
    grep -q 'inserted SGT = 333 for src ip 192.0.2.2' "$LAB_DIR/gw1-sgt.txt" ||
        fail "gw1 debug output lacks 'inserted SGT = 333 for src ip 192.0.2.2'"
    tcpdump -n -r "$LAB_DIR/outside.pcap" 2>/dev/null | head -n 10
    expect_eq "packets on the outside link other than IKE, ESP and neighbour discovery" 0 \
        "$(tcpdump -n -r "$LAB_DIR/outside.pcap" 2>/dev/null | wc -l)"
    tcpdump -n -r "$LAB_DIR/hostA.pcap" 2>/dev/null | head -n 10
    expect_eq "ICMPv6 errors reaching hostA" 0 \
        "$(tcpdump -n -r "$LAB_DIR/hostA.pcap" 2>/dev/null | wc -l)"
}
