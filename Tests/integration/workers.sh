# Dataplane worker tests, sourced by tests.sh: workers pinned to CPUs, and
# their figures in `show dataplane`.

# show_dataplane_worker GW WORKER FIELD: one column (cpu, packets, bursts) of
# the worker's row in `tagline show dataplane --json`.
show_dataplane_worker() {
    tl "$1" --json show dataplane | python3 -c '
import json, sys
worker, field = int(sys.argv[1]), sys.argv[2]
rows = [w for w in json.load(sys.stdin)["workers"] if w["worker"] == worker]
print(rows[0].get(field, "-") if rows else "missing")
' "$2" "$3"
}

# Two workers per gateway pinned to CPUs 0 and 1. The worker threads run on
# their CPUs only. UDP flows from 32 source ports spread over both of gw1's
# workers, because PACKET_FANOUT hashes the flow. `show dataplane` shows each
# worker's CPU, packets and times.
lab_pinned_workers() {
    require_cmd python3 python3
    export DATAPLANE_WORKERS=2 DATAPLANE_CPUS=0,1 DATAPLANE_IDLE_US=100
    lab_start
    grep -h "2 workers on CPUs 0,1, idle after 100 us" "$LAB_DIR"/gw1/logs/*.log ||
        fail "gw1's dataplane log does not show 2 workers on CPUs 0,1"

    # The dataplane's threads: two of them may run only on CPU 0 and CPU 1.
    local pid allowed
    pid=$(supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" pid dataplane-tagger)
    [ "$pid" -gt 0 ] 2>/dev/null || fail "no PID for gw1's dataplane-tagger"
    allowed=$(cat /proc/"$pid"/task/*/status | awk '/^Cpus_allowed_list/ { print $2 }' |
        sort | uniq -c | awk '$2 == "0" || $2 == "1" { printf "%s:%s ", $2, $1 }')
    expect_eq "gw1 threads pinned to one CPU (CPU:threads)" "0:1 1:1 " "$allowed"

    expect_eq "echo replies from hostB" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
    ip netns exec "$ns_hostA" python3 -c '
import socket
for port in range(40000, 40032):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("192.0.2.2", port))
    for _ in range(20):
        s.sendto(b"x" * 200, ("203.0.113.2", 9))
    s.close()
'
    settle
    tl gw1 show dataplane
    local worker packets
    for worker in 0 1; do
        expect_eq "gw1 worker $worker CPU" "$worker" "$(show_dataplane_worker gw1 $worker cpu)"
        packets=$(show_dataplane_worker gw1 $worker packets)
        [ "$packets" -gt 0 ] 2>/dev/null || fail "gw1 worker $worker handled no packets ($packets)"
        echo "ok: gw1 worker $worker handled $packets packets"
    done
    tl gw1 show dataplane | grep -Eq '^0 +0 +[0-9]+ +[0-9]+ +[0-9]+\.[0-9]{3}s +[0-9]+\.[0-9]{3}s +[0-9]+\.[0-9]% +[0-9]+$' ||
        fail "show dataplane on gw1 lacks worker 0's row with CPU 0, times, busy % and ring drops"
}

# A CPU list the dataplane may not use (CPU 1023 is past any machine this runs
# on) makes dataplane-tagger exit at start. `lab up` must fail and name the
# cause, and no gateway's services may keep running.
lab_unusable_cpus() {
    require_cmd supervisord supervisor
    trap lab_cleanup EXIT
    local output
    if output=$(DATAPLANE_CPUS=1023 START_TIMEOUT=5 "$lab" up --bin "$bin" 2>&1); then
        echo "$output"
        fail "lab up succeeded with DATAPLANE_CPUS=1023"
    fi
    echo "$output"
    echo "$output" | grep -q "invalid --cpus 1023" ||
        fail "lab up did not show the dataplane's --cpus error"
    [ ! -f "$LAB_DIR/gw1/supervisord.pid" ] || fail "gw1's supervisord still runs"
}
