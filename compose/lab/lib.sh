# shellcheck shell=bash
# Helpers shared by compose/lab/demo and the lab tests. Source after setting
# root (the repository) and bin (the folder with the built executables).

prefix=${LAB_PREFIX:-tl}
labdir=${LAB_DIR:-/tmp/tagline-lab-$prefix}
ns_hostA=$prefix-hostA ns_gw1=$prefix-gw1 ns_gw2=$prefix-gw2 ns_hostB=$prefix-hostB

# tl GW ARGS...: run the tagline CLI against gateway GW (gw1 or gw2).
tl() {
    local gw=$1
    shift
    "$bin/tagline" --run-dir "$labdir/$gw/run" "$@"
}

# sa_counter GW FIELD: sum of one SACounters field over the gateway's Child SAs.
sa_counter() {
    tl "$1" show crypto ipsec sa --json | python3 -c '
import json, sys
reply = json.load(sys.stdin)
print(sum(entry["counters"].get(sys.argv[1], 0) for entry in reply.get("childSAs", [])))
' "$2"
}

# child_sa_count GW: number of Child SA pairs sa-manager stores.
child_sa_count() {
    tl "$1" show crypto ipsec sa --json 2>/dev/null | python3 -c '
import json, sys
try:
    print(len(json.load(sys.stdin).get("childSAs", [])))
except ValueError:
    print(0)
'
}

# installed_sa_count GW: number of SA pairs the dataplane has in its tables.
installed_sa_count() {
    tl "$1" show dataplane --json 2>/dev/null | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin).get("installedSAs", 0))
except ValueError:
    print(0)
'
}

# wait_for_tunnel SECONDS [COUNT]: waits until each gateway has exactly COUNT
# (default 1) Child SAs in sa-manager and in the dataplane, twice in a row 1 s
# apart; returns 1 after SECONDS. Both gateways initiate at start, and when
# both IKE SAs come up one of them is deleted with its Child SA about a second
# later, so a count taken before that would include an SA about to disappear.
wait_for_tunnel() {
    local deadline=$((SECONDS + $1)) stable=0 count=${2:-1}
    while [ $SECONDS -lt $deadline ]; do
        if [ "$(child_sa_count gw1)" = "$count" ] && [ "$(child_sa_count gw2)" = "$count" ] &&
            [ "$(installed_sa_count gw1)" = "$count" ] &&
            [ "$(installed_sa_count gw2)" = "$count" ]; then
            stable=$((stable + 1))
            [ $stable -ge 2 ] && return 0
            sleep 1
            continue
        fi
        stable=0
        sleep 0.5
    done
    return 1
}

# settle: counters travel dataplane -> sa-manager every 200 ms.
settle() { sleep 1; }

# show_logs GW: the tail of each service log, for a failure report.
show_logs() {
    local log
    for log in "$labdir/$1"/logs/*.log; do
        echo "---- $log"
        tail -n 25 "$log"
    done
}
