# shellcheck shell=bash
# A large binding table, sourced by tests.sh: 200,000 bindings loaded into
# gw1's cts-binding-store through cts.binding.batch reach the dataplane,
# come back in full after a dataplane-tagger restart, and survive a SIGKILL
# of cts-binding-store.

# dataplane_bindings GW: the number of bindings in the dataplane's published table.
dataplane_bindings() {
    tl "$1" show dataplane --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bindings"])'
}

# seconds_until_bindings GW COUNT LIMIT: waits until the dataplane reports COUNT
# bindings and prints the seconds it took; fails after LIMIT seconds.
seconds_until_bindings() {
    local start now count
    start=$(date +%s.%N)
    while true; do
        count=$(dataplane_bindings "$1" 2>/dev/null || echo 0)
        now=$(date +%s.%N)
        [ "$count" = "$2" ] && break
        awk -v s="$start" -v n="$now" -v l="$3" 'BEGIN { exit !(n - s > l) }' &&
            fail "$1's dataplane reports $count bindings after $3 s, expected $2"
        sleep 0.1
    done
    awk -v s="$start" -v n="$now" 'BEGIN { printf "%.2f\n", n - s }'
}

lab_binding_scale() {
    lab_start
    local conf=$LAB_DIR/gw1/supervisord.conf
    "$bin/tagline-bench" binding-latency --run-dir "$LAB_DIR/gw1/run" --load 200000 \
        --samples 50 >"$LAB_DIR/latency.txt" 2>&1 || fail "binding-latency: $(cat "$LAB_DIR/latency.txt")"
    cat "$LAB_DIR/latency.txt"

    local total
    total=$(active_bindings gw1)
    [ "$total" -ge 200000 ] || fail "gw1's store reports $total active bindings, expected 200000 or more"
    expect_eq "bindings in gw1's dataplane" "$total" "$(dataplane_bindings gw1)"

    # A restarted dataplane gets the whole table in the clone snapshot.
    supervisorctl -c "$conf" restart dataplane-tagger >/dev/null
    echo "dataplane-tagger restarted: all $total bindings after $(seconds_until_bindings gw1 "$total" 10) s"

    # A SIGKILLed store comes back from SQLite with every binding.
    local store
    store=$(supervisorctl -c "$conf" pid cts-binding-store)
    kill -KILL "$store"
    local start=$SECONDS
    until [ "$(active_bindings gw1 2>/dev/null)" = "$total" ]; do
        [ $((SECONDS - start)) -lt 20 ] ||
            fail "cts-binding-store reports $(active_bindings gw1 2>/dev/null) bindings after SIGKILL, expected $total"
        sleep 0.2
    done
    echo "ok: cts-binding-store came back with all $total bindings after $((SECONDS - start)) s"
    expect_eq "bindings in gw1's dataplane after the store restart" "$total" \
        "$(seconds_until_bindings gw1 "$total" 10 >/dev/null && dataplane_bindings gw1)"
}
