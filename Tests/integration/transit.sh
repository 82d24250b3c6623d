# shellcheck shell=bash
# The transit drop filter on gw1's inside interface, with the running
# dataplane: sourced by tests.sh.

# transit_filters: the ingress filters on gw1's in0 with the direct-action flag.
transit_filters() {
    ip netns exec "$ns_gw1" tc filter show dev in0 ingress | grep -c "direct-action" || true
}

# transit_drops: the packets gw1's in0 clsact qdisc dropped.
transit_drops() {
    ip netns exec "$ns_gw1" tc -s qdisc show dev in0 |
        awk '/clsact/ { found = 1 } found && /dropped/ { sub(",", "", $7); print $7; exit }'
}

# Transit packets are dropped at tc ingress and still carried. The gateway's
# own addresses stay reachable when they change, past the size of one
# program, and across a SIGKILL of the dataplane.
lab_transit_filter() {
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log before waited pid i
    expect_eq "programs on in0" 2 "$(transit_filters)"

    before=$(transit_drops)
    expect_eq "echo replies through the tunnel" 10 "$(ping_count "$ns_hostA" 203.0.113.2 10)"
    [ "$(transit_drops)" -ge $((before + 10)) ] ||
        fail "in0 dropped $(($(transit_drops) - before)) packets of 10 transit echo requests"
    expect_eq "echo replies from gw1's inside address" 3 "$(ping_count "$ns_hostA" 192.0.2.1 3)"
    expect_eq "echo replies from gw1's outside address" 3 \
        "$(ping_count "$ns_hostA" 198.51.100.1 3)"

    # An address added while the dataplane runs: the next one-second read passes it.
    ip -n "$ns_gw1" address add 192.0.2.60/24 dev in0
    waited=$(seconds_until_ping "$ns_hostA" 192.0.2.60 5)
    [ "$waited" -lt 5 ] || fail "192.0.2.60 not reachable within 5 s of being added"
    echo "ok: 192.0.2.60 reachable after $waited s"

    # 250 IPv6 addresses do not fit one program (221 do): IPv6 goes unfiltered, with a
    # log line, and IPv4 keeps its program. They sit on lo and get no traffic.
    for i in $(seq 1 250); do
        printf 'address add 2001:db8:77::%x/128 dev lo\n' "$i"
    done >"$LAB_DIR/addresses.batch"
    ip -n "$ns_gw1" -batch "$LAB_DIR/addresses.batch"
    ip -n "$ns_gw1" address add 192.0.2.61/24 dev in0
    waited=$(seconds_until_ping "$ns_hostA" 192.0.2.61 5)
    [ "$waited" -lt 5 ] || fail "192.0.2.61 not reachable with 250 more local addresses"
    sleep 1
    grep -q "no ipv6 transit filter on in0" "$log" || fail "no log line for the unfiltered family"
    expect_eq "programs on in0 with 250 more addresses" 1 "$(transit_filters)"
    expect_eq "echo replies through the tunnel" 3 "$(ping_count "$ns_hostA" 203.0.113.2 3)"
    sed 's/address add/address del/' "$LAB_DIR/addresses.batch" >"$LAB_DIR/delete.batch"
    ip -n "$ns_gw1" -batch "$LAB_DIR/delete.batch"
    sleep 2
    expect_eq "programs on in0 after removing them" 2 "$(transit_filters)"

    # SIGKILL: the filter stays, gw1 still replies, and the next start replaces the programs.
    pid=$(supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" pid dataplane-tagger)
    kill -KILL "$pid"
    expect_eq "echo replies from gw1 while the dataplane restarts" 5 \
        "$(ping_count "$ns_hostA" 192.0.2.1 5)"
    waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 8)
    [ "$waited" -lt 8 ] || fail "no transit ping answered within 8 s of the SIGKILL"
    expect_eq "clsact qdiscs on in0 after the restart" 1 \
        "$(ip netns exec "$ns_gw1" tc qdisc show dev in0 | grep -c clsact)"
    expect_eq "programs on in0 after the restart" 2 "$(transit_filters)"
    expect_eq "echo replies from 192.0.2.60 after the restart" 3 \
        "$(ping_count "$ns_hostA" 192.0.2.60 3)"
    awk 'length($0) > 1000 { long++ } END { exit long > 0 }' "$log" ||
        fail "log lines over 1000 characters in $log"

    # A clean stop removes both filters and their qdiscs, as no other filter is on them.
    supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" stop dataplane-tagger >/dev/null
    expect_eq "clsact qdiscs on gw1 after a clean stop" 0 \
        "$(ip netns exec "$ns_gw1" tc qdisc show | grep -c clsact)"
}

# gw1's inside and outside links are deleted and created again (which
# re-creates gw2's outside link too). Each dataplane reopens its rings on the
# new interfaces and puts its filters back, and the established SAs carry
# pings again without a restart.
lab_recreated_links() {
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log waited
    expect_eq "echo replies through the tunnel" 3 "$(ping_count "$ns_hostA" 203.0.113.2 3)"

    ip -n "$ns_gw1" link delete in0
    ip -n "$ns_gw1" link delete out0
    sleep 2
    grep -q "interface in0 is gone" "$log" || fail "no log line for the missing in0 in $log"
    ip link add eth0 netns "$ns_hostA" mtu 1400 type veth peer name in0 netns "$ns_gw1" mtu 1400
    ip link add out0 netns "$ns_gw1" type veth peer name out0 netns "$ns_gw2"
    ip -n "$ns_hostA" address add 192.0.2.2/24 dev eth0
    ip -n "$ns_gw1" address add 192.0.2.1/24 dev in0
    ip -n "$ns_gw1" address add 198.51.100.1/24 dev out0
    ip -n "$ns_gw2" address add 198.51.100.2/24 dev out0
    ip -n "$ns_hostA" link set eth0 up
    ip -n "$ns_gw1" link set in0 up
    ip -n "$ns_gw1" link set out0 up
    ip -n "$ns_gw2" link set out0 up
    ip -n "$ns_hostA" route add default via 192.0.2.1

    waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 10)
    [ "$waited" -lt 10 ] || fail "no transit ping answered within 10 s of re-creating the links"
    echo "ok: transit ping answered $waited s after re-creating the links"
    grep -q "interface in0 was created again" "$log" || fail "no log line for in0 in $log"
    grep -q "interface out0 was created again" "$log" || fail "no log line for out0 in $log"
    grep -q "interface out0 was created again" "$LAB_DIR/gw2/logs/dataplane-tagger.log" ||
        fail "no log line for gw2's out0"
    expect_eq "programs on gw1's in0" 2 "$(transit_filters)"
    local gw
    for gw in "$ns_gw1" "$ns_gw2"; do
        expect_eq "ESP filters on out0 in $gw" 2 \
            "$(ip netns exec "$gw" tc filter show dev out0 ingress | grep -c direct-action)"
    done
    expect_eq "echo replies through the tunnel afterwards" 10 \
        "$(ping_count "$ns_hostA" 203.0.113.2 10)"
    expect_eq "Child SAs on gw1 (the SAs were kept)" 1 "$(child_sa_count gw1)"
}
