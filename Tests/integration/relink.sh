# shellcheck shell=bash
# gw1's inside and outside links deleted and created again while traffic
# runs, left missing, created with another MTU, renamed, and the dataplane
# stopped while one is missing: sourced by tests.sh.

# recreate_inside [MTU]: deletes gw1's in0 (and so hostA's eth0) and creates
# the pair again with the lab's addresses, MTU 1400 unless given.
recreate_inside() {
    local mtu=${1:-1400}
    ip -n "$ns_gw1" link delete in0 2>/dev/null || true
    ip link add eth0 netns "$ns_hostA" mtu "$mtu" type veth peer name in0 netns "$ns_gw1" \
        mtu "$mtu"
    ip -n "$ns_hostA" address add 192.0.2.2/24 dev eth0
    ip -n "$ns_gw1" address add 192.0.2.1/24 dev in0
    ip -n "$ns_hostA" link set eth0 up
    ip -n "$ns_gw1" link set in0 up
    ip -n "$ns_hostA" route add default via 192.0.2.1
}

# recreate_outside: deletes gw1's out0 (and so gw2's) and creates the pair again.
recreate_outside() {
    ip -n "$ns_gw1" link delete out0 2>/dev/null || true
    ip link add out0 netns "$ns_gw1" type veth peer name out0 netns "$ns_gw2"
    ip -n "$ns_gw1" address add 198.51.100.1/24 dev out0
    ip -n "$ns_gw2" address add 198.51.100.2/24 dev out0
    ip -n "$ns_gw1" link set out0 up
    ip -n "$ns_gw2" link set out0 up
}

# dataplane_pid GW: the PID supervisord has for the gateway's dataplane-tagger.
dataplane_pid() {
    supervisorctl -c "$LAB_DIR/$1/supervisord.conf" pid dataplane-tagger
}

# cpu_ticks PID: user plus system clock ticks the process has used.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Two workers on each gateway. Five times, in0 and then out0 are deleted and
# created again under a 100-per-second ping and a TCP stream. Each time the
# tunnel carries pings again within 10 s, the dataplane process stays the
# same, and the TCP stream arrives intact. The filters are back at the end.
lab_relink_churn() {
    require_cmd python3 python3
    export DATAPLANE_WORKERS=2
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log pid1 pid2 round waited pinger
    pid1=$(dataplane_pid gw1)
    pid2=$(dataplane_pid gw2)
    ip netns exec "$ns_hostA" ping -q -i 0.01 -W 1 203.0.113.2 >"$LAB_DIR/ping.txt" 2>&1 &
    pinger=$!
    ip netns exec "$ns_hostB" python3 "$root/compose/lab/tcp-transfer.py" serve 5001 \
        >"$LAB_DIR/serve.txt" 2>&1 &
    sleep 0.5
    ip netns exec "$ns_hostA" python3 "$root/compose/lab/tcp-transfer.py" send 203.0.113.2 \
        5001 1000000000 >"$LAB_DIR/send.txt" 2>&1 &
    local sender=$!

    for round in 1 2 3 4 5; do
        recreate_inside
        waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 10)
        [ "$waited" -lt 10 ] || fail "round $round: no ping through the tunnel after in0"
        recreate_outside
        waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 10)
        [ "$waited" -lt 10 ] || fail "round $round: no ping through the tunnel after out0"
        echo "ok: round $round"
    done

    wait "$sender" || fail "the TCP sender failed: $(cat "$LAB_DIR/send.txt")"
    sleep 1
    # SIGINT makes ping print its summary.
    kill -INT "$pinger" 2>/dev/null || true
    wait "$pinger" 2>/dev/null || true
    echo "ping during the rounds: $(grep -h "packets transmitted" "$LAB_DIR/ping.txt")"
    expect_eq "TCP stream intact" "$(awk '{ print $1, $2 }' "$LAB_DIR/send.txt")" \
        "$(grep -v listening "$LAB_DIR/serve.txt" | awk '{ print $1, $2 }')"
    expect_eq "gw1's dataplane process" "$pid1" "$(dataplane_pid gw1)"
    expect_eq "gw2's dataplane process" "$pid2" "$(dataplane_pid gw2)"
    expect_eq "in0 reopenings in gw1's log" 5 "$(grep -c "interface in0 was created again" "$log")"
    expect_eq "out0 reopenings in gw1's log" 5 \
        "$(grep -c "interface out0 was created again" "$log")"
    expect_eq "ESP filters on gw1's out0" 2 \
        "$(ip netns exec "$ns_gw1" tc filter show dev out0 ingress | grep -c direct-action)"
    expect_eq "transit filters on gw1's in0" 2 \
        "$(ip netns exec "$ns_gw1" tc filter show dev in0 ingress | grep -c direct-action)"
    expect_eq "echo replies through the tunnel afterwards" 10 \
        "$(ping_count "$ns_hostA" 203.0.113.2 10)"
}

# in0 deleted and not created again: one log line, the same process, and the
# workers do not spin on the dead rings. A stop while in0 is missing removes
# out0's ESP filter and ends cleanly. With in0 back, a start carries pings.
lab_relink_missing() {
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log pid before after
    pid=$(dataplane_pid gw1)
    ip -n "$ns_gw1" link delete in0
    sleep 6
    expect_eq "log lines for the missing in0" 1 "$(grep -c "interface in0 is gone" "$log")"
    expect_eq "gw1's dataplane process" "$pid" "$(dataplane_pid gw1)"
    before=$(cpu_ticks "$pid")
    sleep 3
    after=$(cpu_ticks "$pid")
    echo "gw1's dataplane used $((after - before)) ticks in 3 s with in0 missing"
    [ $((after - before)) -lt 150 ] ||
        fail "gw1's dataplane used $((after - before)) ticks of 300 in 3 s with in0 missing"

    supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" stop dataplane-tagger >/dev/null
    grep -q "dataplane stopped" "$log" || fail "no clean stop in $log"
    expect_eq "clsact qdiscs on gw1's out0 after the stop" 0 \
        "$(ip netns exec "$ns_gw1" tc qdisc show dev out0 | grep -c clsact)"
    if grep "removing the transit filter from in0 failed" "$log"; then
        fail "a warning for the filters of the missing in0"
    fi
    grep "updating the transit filter on in0 failed, tried again each second: interface in0 not found" \
        "$log" || fail "no plain line for the transit filter of the missing in0"

    recreate_inside
    supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" start dataplane-tagger >/dev/null
    wait_for_tunnel 30 || fail "the tunnel did not come back after the start"
    expect_eq "echo replies through the tunnel" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
}

# in0 created again with MTU 1300: the dataplane takes the new MTU, so a
# 1300-byte packet passes, and a 1350-byte DF packet from hostB gets an ICMP
# "fragmentation needed" naming 1300 rather than being lost on the veth.
lab_relink_mtu() {
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log waited output
    ip -n "$ns_gw1" link delete in0
    sleep 1.5
    recreate_inside 1300
    waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 10)
    [ "$waited" -lt 10 ] || fail "no ping through the tunnel after in0 came back with MTU 1300"
    grep "interface in0 was created again" "$log" || fail "no reopening in $log"
    expect_eq "1300-byte echo replies" 3 \
        "$(ip netns exec "$ns_hostA" ping -c 3 -i 0.2 -W 2 -M do -s 1272 203.0.113.2 |
            awk '/received/ { print $4 }')"
    output=$(ip netns exec "$ns_hostB" ping -c 2 -i 0.5 -W 2 -M do -s 1322 192.0.2.2 2>&1 || true)
    echo "$output"
    grep -q "mtu = 1300" <<<"$output" ||
        fail "no fragmentation needed with MTU 1300 for a 1350-byte DF packet to hostA"
}

# in0 renamed to in9 (its addresses removed, hostA's end left as it is) and
# a new in0 pair created in its place: the dataplane follows the configured
# name to the new link.
lab_relink_rename() {
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log waited
    ip -n "$ns_gw1" link set in0 down
    ip -n "$ns_gw1" link set in0 name in9
    ip -n "$ns_gw1" address flush dev in9
    ip -n "$ns_hostA" address flush dev eth0
    ip link add eth1 netns "$ns_hostA" mtu 1400 type veth peer name in0 netns "$ns_gw1" mtu 1400
    ip -n "$ns_hostA" address add 192.0.2.2/24 dev eth1
    ip -n "$ns_gw1" address add 192.0.2.1/24 dev in0
    ip -n "$ns_hostA" link set eth1 up
    ip -n "$ns_gw1" link set in0 up
    ip -n "$ns_hostA" route add default via 192.0.2.1
    waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 10)
    tail -n 5 "$log"
    [ "$waited" -lt 10 ] || fail "no ping through the tunnel on the new in0 (old one renamed)"
}

# pinned_threads GW: the gateway's dataplane threads pinned to a single CPU,
# as "CPU:threads " pairs.
pinned_threads() {
    cat /proc/"$(dataplane_pid "$1")"/task/*/status | awk '/^Cpus_allowed_list/ { print $2 }' |
        sort | uniq -c | awk '$2 == "0" || $2 == "1" { printf "%s:%s ", $2, $1 }'
}

# Two workers pinned to CPUs 0 and 1: the workers built again for a re-created
# in0 run on their CPUs too, and carry traffic.
lab_relink_pinned() {
    export DATAPLANE_WORKERS=2 DATAPLANE_CPUS=0,1
    lab_start
    expect_eq "gw1 threads pinned to one CPU before (CPU:threads)" "0:1 1:1 " \
        "$(pinned_threads gw1)"
    recreate_inside
    local waited
    waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 10)
    [ "$waited" -lt 10 ] || fail "no ping through the tunnel after in0 came back"
    expect_eq "gw1 threads pinned to one CPU after (CPU:threads)" "0:1 1:1 " \
        "$(pinned_threads gw1)"
    expect_eq "echo replies through the tunnel" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
}

# operator_filters: the operator's filters on gw1's out0, one per line.
operator_filters() {
    {
        ip netns exec "$ns_gw1" tc filter show dev out0 ingress
        ip netns exec "$ns_gw1" tc filter show dev out0 egress
    } | grep -E "handle 0x(7|9) " || true
}

# An operator's clsact filters on gw1's out0 (ingress priority 10, egress
# priority 5) survive a SIGKILL of the dataplane and its restart, and a clean
# stop. One the operator adds at the dataplane's priority 1 while it runs
# survives a stop too, and the next start fails with a line that names it.
lab_operator_filters() {
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log ctl pid
    ctl="supervisorctl -c $LAB_DIR/gw1/supervisord.conf"
    ip netns exec "$ns_gw1" tc filter add dev out0 ingress protocol all prio 10 handle 7 \
        bpf bytecode "1,6 0 0 4294967295" da
    ip netns exec "$ns_gw1" tc filter add dev out0 egress protocol all prio 5 handle 9 \
        bpf bytecode "1,6 0 0 4294967295" da
    expect_eq "operator filters" 2 "$(operator_filters | wc -l)"

    pid=$(dataplane_pid gw1)
    kill -KILL "$pid"
    wait_until 15 "a new dataplane on gw1" eval \
        '[ "$(dataplane_pid gw1)" -gt 0 ] 2>/dev/null && [ "$(dataplane_pid gw1)" != "$pid" ]'
    wait_for_tunnel 30 || fail "the tunnel did not come back after the SIGKILL"
    expect_eq "operator filters after SIGKILL and restart" 2 "$(operator_filters | wc -l)"
    expect_eq "ESP filters after the restart" 2 \
        "$(ip netns exec "$ns_gw1" tc filter show dev out0 ingress | grep -c "handle 0x1 ")"

    $ctl stop dataplane-tagger >/dev/null
    expect_eq "operator filters after a stop" 2 "$(operator_filters | wc -l)"
    expect_eq "ESP filters after a stop" 0 \
        "$(ip netns exec "$ns_gw1" tc filter show dev out0 ingress | grep -c "handle 0x1 " || true)"
    $ctl start dataplane-tagger >/dev/null

    ip netns exec "$ns_gw1" tc filter add dev out0 ingress protocol ip prio 1 handle 7 \
        bpf bytecode "1,6 0 0 4294967295" da
    $ctl stop dataplane-tagger >/dev/null
    expect_eq "operator filters after a stop, one at priority 1" 3 "$(operator_filters | wc -l)"
    # supervisord tries the failing start again and again, so the command gets a time limit.
    timeout 5 $ctl start dataplane-tagger >/dev/null 2>&1 || true
    grep "move that filter to another priority" "$log" ||
        fail "no line naming the filter at priority 1 in $log"
    ip netns exec "$ns_gw1" tc filter del dev out0 ingress protocol ip prio 1 handle 7 bpf
    wait_until 30 "gw1's dataplane running with priority 1 free" \
        eval '$ctl status dataplane-tagger | grep -q RUNNING'
    wait_for_tunnel 30 || fail "the tunnel did not come back with priority 1 free"
    expect_eq "echo replies through the tunnel" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
}

# gw1's in0 and out0 get new MAC addresses in place, as `ip link set address`
# does, without being created again. hostA and gw2 learn the new addresses
# (their neighbour entries are flushed to make it quick), and the dataplane
# routes the frames sent to them.
lab_relink_new_mac() {
    lab_start
    local waited
    ip -n "$ns_gw1" link set in0 address 02:00:5e:00:53:01
    ip -n "$ns_gw1" link set out0 address 02:00:5e:00:53:02
    ip -n "$ns_hostA" neigh flush all
    ip -n "$ns_gw2" neigh flush all
    waited=$(seconds_until_ping "$ns_hostA" 203.0.113.2 10)
    [ "$waited" -lt 10 ] || fail "no ping through the tunnel after gw1's MAC addresses changed"
    echo "ok: ping answered $waited s after the MAC addresses changed"
    expect_eq "echo replies through the tunnel" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
    expect_eq "echo replies from hostB to hostA" 5 "$(ping_count "$ns_hostB" 192.0.2.2 5)"
}

# The --outer6 lab: two crypto map entries to the peer share one IKE SA.
# `clear crypto sa` on either gateway brings both Child SAs back, one pair
# each, and the tunnel carries IPv4 and IPv6 again.
lab_outer6_clear() {
    trap lab_cleanup EXIT
    "$lab" up --bin "$bin" --outer6
    wait_for_tunnel 30 2 || fail "the two Child SAs did not come up within 30 s"
    local gw
    for gw in gw1 gw2; do
        expect_eq "clear crypto sa on $gw" "cleared 2 Child SAs" "$(tl "$gw" clear crypto sa)"
        wait_for_tunnel 30 2 || fail "the two Child SAs did not come back after a clear on $gw"
        sleep 5
        expect_eq "Child SAs on gw1 after the wait" 2 "$(child_sa_count gw1)"
        expect_eq "Child SAs on gw2 after the wait" 2 "$(child_sa_count gw2)"
        expect_eq "IPv4 echo replies after a clear on $gw" 3 \
            "$(ping_count "$ns_hostA" 203.0.113.2 3)"
        expect_eq "IPv6 echo replies after a clear on $gw" 3 \
            "$(ping_count "$ns_hostA" 2001:db8:2::2 3)"
    done
}

# out0 deleted (with gw2's end) and gw1's dataplane stopped while it is
# missing: the stop ends cleanly and removes the transit filter from in0.
# out0's filters went with it, so there is nothing to warn about. With out0
# back, a start carries pings.
lab_relink_stop_without_outside() {
    lab_start
    local log=$LAB_DIR/gw1/logs/dataplane-tagger.log
    ip -n "$ns_gw1" link delete out0
    sleep 2
    grep -q "interface out0 is gone" "$log" || fail "no log line for the missing out0 in $log"
    supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" stop dataplane-tagger >/dev/null
    grep -q "dataplane stopped" "$log" || fail "no clean stop in $log"
    if grep "removing the ESP filter from out0 failed" "$log"; then
        fail "a warning for the filters of the missing out0"
    fi
    expect_eq "clsact qdiscs on gw1's in0 after the stop" 0 \
        "$(ip netns exec "$ns_gw1" tc qdisc show dev in0 | grep -c clsact)"

    recreate_outside
    supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" start dataplane-tagger >/dev/null
    wait_for_tunnel 30 || fail "the tunnel did not come back after the start"
    expect_eq "echo replies through the tunnel" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
}
