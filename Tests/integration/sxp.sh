# SXP tests, sourced by tests.sh: two cts-binding-store processes on
# loopback, a speaker on 127.0.0.1 and a listener on 127.0.0.2, with TCP-MD5.

# sxp_store NAME ADDRESS CONFIG: starts cts-binding-store for NAME with its
# own run and state directories under $SXP_DIR; its PID goes to NAME.pid.
sxp_store() {
    local name=$1 dir=$SXP_DIR/$1
    mkdir -p -m 700 "$dir/run" "$dir/state"
    printf '%s\n' "$3" >"$dir/config"
    "$bin/cts-binding-store" --config "$dir/config" --run-dir "$dir/run" \
        --state-dir "$dir/state" --sxp-port "$SXP_PORT" >>"$dir/log" 2>&1 &
    echo $! >"$SXP_DIR/$name.pid"
}

sxp_cleanup() {
    local pidfile
    for pidfile in "$SXP_DIR"/*.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    done
    sleep 0.5
    for log in "$SXP_DIR"/*/log; do
        [ -f "$log" ] && { echo "== $log"; tail -n 20 "$log"; }
    done
    rm -rf "$SXP_DIR"
}

# sxp_tl NAME ARGS...: tagline against NAME's store.
sxp_tl() {
    local name=$1
    shift
    "$bin/tagline" --run-dir "$SXP_DIR/$name/run" "$@"
}

# sxp_sgt NAME ADDRESS: the SGT NAME's store uses for ADDRESS, or "none".
sxp_sgt() {
    sxp_tl "$1" --json show cts role-based sgt-map "$2" | python3 -c '
import json, sys
binding = json.load(sys.stdin).get("binding")
print(binding["sgt"] if binding else "none")'
}

# wait_for DESCRIPTION SECONDS COMMAND...: retries COMMAND every 0.2 s.
wait_for() {
    local description=$1 deadline=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out waiting for $description"
        sleep 0.2
    done
}

sxp_sgt_is() { # sxp_sgt_is NAME ADDRESS SGT
    [ "$(sxp_sgt "$1" "$2")" = "$3" ]
}

sxp_state_is() { # sxp_state_is NAME PEER STATE
    sxp_tl "$1" show cts sxp connections brief | grep -q "^$2 .* $3 "
}

# The speaker announces its CLI bindings and a later API binding to the
# listener. An unsigned connect to the listener never completes. After the
# speaker is killed with SIGKILL the listener keeps the bindings in
# delete-hold-down, and the restarted speaker takes the connection back
# without any binding being removed.
sxp_loopback() {
    require_cmd python3 python3
    export SXP_DIR=/tmp/tagline-sxp-$$ SXP_PORT=$((40000 + $$ % 20000))
    trap sxp_cleanup EXIT
    local speaker_config listener_config
    speaker_config='cts role-based sgt-map 192.0.2.0/24 sgt 10
cts role-based sgt-map 2001:db8:1::/48 sgt 12
cts sxp enable
cts sxp default password 0 lab-sxp-key
cts sxp default source-ip 127.0.0.1
cts sxp connection peer 127.0.0.2 password default mode local speaker
cts sxp retry period 1'
    listener_config='cts sxp enable
cts sxp default password 0 lab-sxp-key
cts sxp default source-ip 127.0.0.2
cts sxp connection peer 127.0.0.1 password default mode local listener'
    sxp_store listener 127.0.0.2 "$listener_config"
    sxp_store speaker 127.0.0.1 "$speaker_config"

    wait_for "the SXP connection" 10 sxp_state_is listener 127.0.0.1 On
    wait_for "the speaker's bindings" 5 sxp_sgt_is listener 192.0.2.7 10
    expect_eq "IPv6 binding from the speaker" 12 "$(sxp_sgt listener 2001:db8:1::5)"
    sxp_tl listener show cts sxp connections | grep -q "^Conn version     : 4$" ||
        fail "connection version is not 4"
    sxp_tl listener show cts sxp connections | grep -q "^TCP conn password: default SXP password$" ||
        fail "connection password is not the default"

    sxp_tl speaker cts role-based sgt-map add 203.0.113.0/24 sgt 40
    wait_for "the API binding" 5 sxp_sgt_is listener 203.0.113.9 40

    # An unsigned connect from the configured peer's address: the kernel drops the SYN.
    python3 - "$SXP_PORT" <<'PY' || fail "a connect without TCP-MD5 completed"
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.settimeout(3)
try:
    s.connect(("127.0.0.2", int(sys.argv[1])))
except socket.timeout:
    sys.exit(0)
sys.exit(1)
PY

    kill -KILL "$(cat "$SXP_DIR/speaker.pid")"
    wait_for "delete-hold-down" 5 sxp_state_is listener 127.0.0.1 "Delete Hold Down"
    sleep 1
    expect_eq "binding kept in delete-hold-down" 10 "$(sxp_sgt listener 192.0.2.7)"
    sxp_store speaker 127.0.0.1 "$speaker_config"
    wait_for "the SXP connection after the restart" 10 sxp_state_is listener 127.0.0.1 On
    sleep 1
    expect_eq "binding after the reconnect" 10 "$(sxp_sgt listener 192.0.2.7)"
    expect_eq "API binding after the reconnect" 40 "$(sxp_sgt listener 203.0.113.9)"
    if grep -q "deleted by" "$SXP_DIR/listener/log"; then
        fail "the listener removed a binding while the speaker flapped"
    fi
}
