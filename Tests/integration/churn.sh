# shellcheck shell=bash
# Binding changes under traffic, sourced by tests.sh: hostA pings hostB
# every 2 ms while tagline-bench changes 10,000 bindings a second on gw1,
# hostA's own binding among them, flipping between SGT 3001 and 3002.

# dataplane_drops GW: all drops the gateway's dataplane counted, summed.
dataplane_drops() {
    tl "$1" show dataplane --json | python3 -c '
import json, sys
drops = json.load(sys.stdin).get("drops", {})
print(sum(drops.values()))
print("drops:", {k: v for k, v in drops.items() if v}, file=sys.stderr)'
}

# binding_tables GW: binding tables the dataplane published, and the changes they carried.
binding_tables() {
    tl "$1" show dataplane --json | python3 -c '
import json, sys
reply = json.load(sys.stdin)
print(reply.get("bindingTables", 0), reply.get("bindingChanges", 0))'
}

# active_bindings GW: the number of bindings in use that the store reports.
active_bindings() {
    tl "$1" show cts role-based sgt-map all | awk '/Total number of active/ { print $NF }'
}

lab_binding_churn() {
    lab_start
    local store replies
    # The configuration's 192.0.2.2 binding (source CLI) outranks API bindings
    # of the same prefix: remove it so the API changes decide hostA's SGT.
    sed -i '/cts role-based sgt-map 192.0.2.2 sgt 333/d' "$LAB_DIR/gw1.cfg"
    store=$(supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" pid cts-binding-store)
    kill -HUP "$store"
    sleep 1
    tl gw1 show cts role-based sgt-map 192.0.2.2

    local drops1 drops2 tables0
    tables0=$(binding_tables gw1)
    drops1=$(dataplane_drops gw1)
    drops2=$(dataplane_drops gw2)
    tl gw2 debug crypto ipsec metadata sgt --duration 8 >"$LAB_DIR/gw2-sgt.txt" 2>&1 &
    local debug=$!
    sleep 1
    "$bin/tagline-bench" binding-churn --run-dir "$LAB_DIR/gw1/run" --rate 10000 --seconds 5 \
        --prefixes 5000 --flip "192.0.2.2/32 3001 3002" --save "$LAB_DIR/expected.json" \
        >"$LAB_DIR/churn.txt" 2>&1 &
    local churn=$!
    # The first batch flips hostA to 3001 before the first ping leaves.
    sleep 0.3
    ip netns exec "$ns_hostA" ping -q -c 1500 -i 0.002 -W 2 203.0.113.2 >"$LAB_DIR/ping.txt" 2>&1 || true
    wait $churn || fail "binding-churn: $(cat "$LAB_DIR/churn.txt")"
    cat "$LAB_DIR/churn.txt"
    wait $debug || true

    replies=$(awk '/received/ { print $4 }' "$LAB_DIR/ping.txt")
    expect_eq "pings answered while bindings changed" 1500 "$replies"
    expect_eq "gw1 drops while bindings changed" "$drops1" "$(dataplane_drops gw1)"
    expect_eq "gw2 drops while bindings changed" "$drops2" "$(dataplane_drops gw2)"

    # The dataplane took the 50,000 changes in far fewer tables, at most
    # about one per millisecond of the 5 s.
    local tables changes
    read -r tables changes <<<"$(binding_tables gw1)"
    tables=$((tables - ${tables0% *}))
    echo "gw1 published $tables binding tables for $changes changes"
    [ "$tables" -gt 0 ] && [ "$tables" -le 6000 ] ||
        fail "gw1 published $tables binding tables for 50000 changes, expected 1 to 6000"

    # gw2 extracts the SGT of every packet from hostA: only the two flipped
    # values may appear, and both must.
    local sgts
    sgts=$(sed -n 's/.*extracted SGT = \([0-9]*\) for src ip 192\.0\.2\.2$/\1/p' \
        "$LAB_DIR/gw2-sgt.txt" | sort -u | tr '\n' ' ')
    expect_eq "SGTs gw2 extracted from hostA's packets" "3001 3002 " "$sgts"

    # The dataplane ends with the store's set, and a SIGKILLed store keeps it.
    sleep 0.5
    expect_eq "bindings in gw1's dataplane" "$(active_bindings gw1)" \
        "$(tl gw1 show dataplane --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bindings"])')"
    store=$(supervisorctl -c "$LAB_DIR/gw1/supervisord.conf" pid cts-binding-store)
    kill -KILL "$store"
    local start=$SECONDS
    until tl gw1 ping 2>/dev/null | grep -q cts-binding-store; do
        [ $((SECONDS - start)) -lt 10 ] || fail "cts-binding-store did not come back"
        sleep 0.5
    done
    "$bin/tagline-bench" binding-churn --run-dir "$LAB_DIR/gw1/run" \
        --verify "$LAB_DIR/expected.json" || fail "the store lost changes across SIGKILL"
    echo "ok: every acknowledged change survived SIGKILL of cts-binding-store"
}
