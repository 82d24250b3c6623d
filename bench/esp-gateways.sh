# shellcheck shell=bash disable=SC2034,SC2154
# SC2034/SC2154: the R_*, C_*, D_* figures and the options (DURATION, RATE,
# SEARCH_LOSS, RUN_TCP, bin, root, BENCH_TMP) are shared with the scripts
# that source this file.
#
# esp-gateways.sh: the four-namespace topology of strongswan-esp-rate and two
# Tagline gateways on it, with their tests and checks. Sourced by
# bench/esp-compare (iperf3 traffic) and bench/esp-trafgen (trafgen traffic)
# after the shared bench-lib.sh and compose/lab/lib.sh.
#
# MEASURE_UDP names the UDP test that run_tagline runs per size, with the
# arguments CLIENT_NS SERVER_NS SRC DST SIZE; it sets the R_* figures of
# bench-lib.sh. SENDER_CAP_NOTE is the text of the 'cap=' mark.

MEASURE_UDP=measure_udp
SENDER_CAP_NOTE="iperf3 sender cap"

# The Debian package of each command that require_cmd checks. bench-lib.sh
# declares its table with 'declare -A', which is local to the function that
# sources it (parse_args), so require_cmd would find no table afterwards.
declare -gA BENCH_PKG_HINT=([ip]=iproute2 [ss]=iproute2 [tc]=iproute2 [trafgen]=netsniff-ng
    [tcpdump]=tcpdump [iperf3]=iperf3 [ethtool]=ethtool [python3]=python3
    [ping]=iputils-ping [awk]=gawk [timeout]=coreutils [swanctl]=strongswan-swanctl
    [supervisord]=supervisor [gcc]=gcc [openssl]=openssl [taskset]=util-linux)

# The addresses and MTUs of strongswan-esp-rate.
INNER_MTU=1400 OUTER_MTU=1500
HOST_A=192.0.2.2 SW_A_IN=192.0.2.1 SW_A_OUT=198.51.100.1
HOST_B=203.0.113.2 SW_B_IN=203.0.113.1 SW_B_OUT=198.51.100.2

# ---------------------------------------------------------------- topology --

# build_topology PREFIX FORWARDING: the namespaces PREFIX-hostA, -swA, -swB
# and -hostB, with ip_forward=FORWARDING (0 or 1) in swA and swB.
build_topology() {
    local p=$1
    NS_HOST_A=$p-hostA NS_SW_A=$p-swA NS_SW_B=$p-swB NS_HOST_B=$p-hostB
    ns_create "$NS_HOST_A"
    ns_create "$NS_SW_A"
    ns_create "$NS_SW_B"
    ns_create "$NS_HOST_B"
    veth_link "$NS_HOST_A" eth0 "$HOST_A/24" "$NS_SW_A" in0 "$SW_A_IN/24" "$INNER_MTU"
    veth_link "$NS_SW_A" out0 "$SW_A_OUT/24" "$NS_SW_B" out0 "$SW_B_OUT/24" "$OUTER_MTU"
    veth_link "$NS_SW_B" in0 "$SW_B_IN/24" "$NS_HOST_B" eth0 "$HOST_B/24" "$INNER_MTU"
    ip -n "$NS_HOST_A" route add default via "$SW_A_IN"
    ip -n "$NS_HOST_B" route add default via "$SW_B_IN"
    host_csum_offload_off "$NS_HOST_A" eth0
    host_csum_offload_off "$NS_HOST_B" eth0
    set_forwarding "$NS_SW_A" "$2"
    set_forwarding "$NS_SW_B" "$2"
}

# --------------------------------------------------------------- gateways --

GATEWAY_DIRS=()

# gateways_up on|off: both gateways through compose/lab/lab, tagging on or off.
gateways_up() {
    LAB_DIR=$BENCH_TMP/lab-sgt-$1
    labdir=$LAB_DIR
    GATEWAY_DIRS+=("$labdir/gw1" "$labdir/gw2")
    # Lifetimes long enough that no Child SA is rekeyed during a run, because the SA
    # counters are summed over the current SAs and a rekey would drop the old ones.
    LAB_DIR=$labdir "$root/compose/lab/lab" gateways --bin "$bin" --gw1-ns "$NS_SW_A" \
        --gw2-ns "$NS_SW_B" --gw1-sgt "$1" --gw2-sgt "$1" \
        --extra-config "crypto ipsec security-association lifetime kilobytes 4294967295" \
        --extra-config "crypto ipsec security-association lifetime seconds 86400" \
        >"$BENCH_TMP/lab-$1.log" 2>&1 ||
        { BENCH_KEEP_TMP=1; die "starting the gateways failed; see $BENCH_TMP/lab-$1.log"; }
    wait_for_tunnel 40 ||
        { BENCH_KEEP_TMP=1; die "the Child SA did not come up within 40 s; logs in $labdir"; }
    TAGGER_A=$(tagger_pid gw1) TAGGER_B=$(tagger_pid gw2)
    RX_A=$(received_frames "$NS_SW_A") RX_B=$(received_frames "$NS_SW_B")
    TOOK_A=$(worker_packets gw1) TOOK_B=$(worker_packets gw2)
}

gateways_down() {
    local dir
    for dir in "${GATEWAY_DIRS[@]}"; do
        "$root/compose/gateway" stop --dir "$dir" >/dev/null 2>&1 || true
    done
    GATEWAY_DIRS=()
}

tagger_pid() {    # tagger_pid gw1|gw2: PID of that gateway's dataplane-tagger
    local pid
    pid=$(supervisorctl -c "$labdir/$1/supervisord.conf" pid dataplane-tagger 2>/dev/null)
    [[ $pid =~ ^[1-9][0-9]*$ ]] || die "no dataplane-tagger runs for $1 (supervisorctl output: '$pid')"
    printf '%s' "$pid"
}

# cpu_ticks PID: utime + stime in clock ticks.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat") || die "dataplane-tagger $1 is gone"
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

# worker_busy GW: busy nanoseconds summed over the gateway's workers.
worker_busy() {
    tl "$1" show dataplane --json | python3 -c '
import json, sys
print(sum(w["busyNanoseconds"] for w in json.load(sys.stdin)["workers"]))'
}

# cost_start / cost_stop: CPU and busy time of both taggers over a test.
cost_start() {
    C_TICKS_A=$(cpu_ticks "$TAGGER_A") C_TICKS_B=$(cpu_ticks "$TAGGER_B")
    C_BUSY_A=$(worker_busy gw1) C_BUSY_B=$(worker_busy gw2)
    C_ENC=$(sa_counter gw1 encaps) C_DEC=$(sa_counter gw2 decaps)
    C_TAG_A=$(sa_counter gw1 tagged) C_UNTAG_B=$(sa_counter gw2 untagged)
    PERF_PIDS=()
    if [[ -n $PERF ]]; then
        start_bg /dev/null perf stat -x, -e task-clock -p "$TAGGER_A" -o "$BENCH_TMP/perf-a.csv"
        PERF_PIDS+=("$BG_PID")
        start_bg /dev/null perf stat -x, -e task-clock -p "$TAGGER_B" -o "$BENCH_TMP/perf-b.csv"
        PERF_PIDS+=("$BG_PID")
    fi
}

# cost_stop: sets D_ENC, D_DEC (packets), D_TAG_A, D_UNTAG_B and the per-packet
# costs CPU_NS_A, CPU_NS_B, BUSY_NS_A, BUSY_NS_B (0 when no packet passed).
cost_stop() {
    local hz cpu_a cpu_b pid
    for pid in "${PERF_PIDS[@]}"; do stop_pid "$pid" INT; done
    settle
    D_ENC=$(($(sa_counter gw1 encaps) - C_ENC)) D_DEC=$(($(sa_counter gw2 decaps) - C_DEC))
    D_TAG_A=$(($(sa_counter gw1 tagged) - C_TAG_A))
    D_UNTAG_B=$(($(sa_counter gw2 untagged) - C_UNTAG_B))
    hz=$(getconf CLK_TCK)
    cpu_a=$((($(cpu_ticks "$TAGGER_A") - C_TICKS_A) * 1000000000 / hz))
    cpu_b=$((($(cpu_ticks "$TAGGER_B") - C_TICKS_B) * 1000000000 / hz))
    if ((${#PERF_PIDS[@]} > 0)); then
        cpu_a=$(perf_ns "$BENCH_TMP/perf-a.csv") cpu_b=$(perf_ns "$BENCH_TMP/perf-b.csv")
    fi
    say "CPU of dataplane-tagger over the test: swA (PID $TAGGER_A) $((cpu_a / 1000000)) ms" \
        "for $D_ENC packets, swB (PID $TAGGER_B) $((cpu_b / 1000000)) ms for $D_DEC packets"
    CPU_NS_A=$(per_packet "$cpu_a" "$D_ENC") CPU_NS_B=$(per_packet "$cpu_b" "$D_DEC")
    BUSY_NS_A=$(per_packet $(($(worker_busy gw1) - C_BUSY_A)) "$D_ENC")
    BUSY_NS_B=$(per_packet $(($(worker_busy gw2) - C_BUSY_B)) "$D_DEC")
}

# perf_ns FILE: the task-clock (milliseconds) that perf stat -x, wrote, in ns.
perf_ns() {
    awk -F, '$3 == "task-clock" { ms += $1 } END { printf "%.0f\n", ms * 1e6 }' "$1"
}

per_packet() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.0f", (n > 0 ? t / n : 0) }'; }

# record_ceiling: run after each search trial; the first trial of a size is
# unlimited, so its offered rate is the sender's ceiling.
record_ceiling() { [[ -n $CEILING ]] || CEILING=$R_OFFERED_PPS; }

# sender_capped: 1 if the rate that passed is the sender's ceiling.
sender_capped() {
    if [[ -n $SEARCH_LOSS ]]; then
        awk -v r="$R_SEARCH_PPS" -v c="$CEILING" 'BEGIN { print (r >= 0.95 * c ? 1 : 0) }'
    elif [[ $RATE == 0 ]]; then
        awk -v l="$R_LOSS" 'BEGIN { print (l <= 1 ? 1 : 0) }'
    else
        echo 0
    fi
}

# run_tagline on|off: the UDP tests per size and the TCP test through the
# gateways with tagging on or off.
run_tagline() {
    local mode=$1 label=tagline capped extra note
    [[ $mode == on ]] || label=tagline-untagged
    say "$label: starting the gateways"
    gateways_up "$mode"
    local i ok=0 before
    before=$(sa_counter gw2 decaps)
    for ((i = 0; i < 5; i++)); do ping_ok "$NS_HOST_A" "$HOST_B" && { ok=1; break; }; done
    ((ok)) || { BENCH_KEEP_TMP=1; die "$label: hostA cannot ping hostB through the tunnel"; }
    settle
    check_through_tunnel "$label" $(($(sa_counter gw2 decaps) - before)) 1
    BENCH_AFTER_TRIAL=record_ceiling
    for size in "${SIZES[@]}"; do
        CEILING=''
        cost_start
        "$MEASURE_UDP" "$NS_HOST_A" "$NS_HOST_B" "$HOST_A" "$HOST_B" "$size"
        cost_stop
        check_through_tunnel "$label" "$D_DEC" "$R_PACKETS"
        check_tagging "$mode" "$R_PACKETS"
        capped=$(sender_capped)
        note=''
        ((capped == 0)) || note=" cap=$SENDER_CAP_NOTE"
        extra=" cpu_ns_pkt=$CPU_NS_A/$CPU_NS_B busy_ns_pkt=$BUSY_NS_A/$BUSY_NS_B$note"
        result emit_udp "$label" "$size" "$extra" bench="$PROG" system="$label" \
            sender_capped="$capped" sender_ceiling_pps="${CEILING:-0}" \
            cpu_ns_pkt_swA="$CPU_NS_A" cpu_ns_pkt_swB="$CPU_NS_B" \
            busy_ns_pkt_swA="$BUSY_NS_A" busy_ns_pkt_swB="$BUSY_NS_B" \
            cpu_source="${PERF:-proc}"
    done
    BENCH_AFTER_TRIAL=''
    if [[ $RUN_TCP == 1 ]]; then
        cost_start
        iperf_tcp "$NS_HOST_A" "$NS_HOST_B" "$HOST_A" "$HOST_B" "$DURATION"
        cost_stop
        # Each packet carries at most 1400 - 40 bytes of TCP payload.
        check_through_tunnel "$label" "$D_DEC" \
            "$(awk -v m="$R_MBPS" -v d="$DURATION" 'BEGIN { printf "%.0f", m * 1e6 * d / 8 / 1360 * 0.9 }')"
        result emit "$label tcp mbps=$R_MBPS retransmits=$R_RETRANSMITS cpu_ns_pkt=$CPU_NS_A/$CPU_NS_B" \
            bench="$PROG" system="$label" proto=tcp duration_s="$DURATION" \
            mbps="$R_MBPS" retransmits="$R_RETRANSMITS" cpu_ns_pkt_swA="$CPU_NS_A" \
            cpu_ns_pkt_swB="$CPU_NS_B"
    fi
    say "$label: dataplane state after the tests"
    # show dataplane lists the kernel's RX ring drops per worker. The interface counters
    # against the workers' packets also show frames lost before the rings.
    {
        echo "== swA: in0+out0 received $(($(received_frames "$NS_SW_A") - RX_A)) frames," \
            "workers took $(($(worker_packets gw1) - TOOK_A))"
        tl gw1 show dataplane
        echo "== swB: in0+out0 received $(($(received_frames "$NS_SW_B") - RX_B)) frames," \
            "workers took $(($(worker_packets gw2) - TOOK_B))"
        tl gw2 show dataplane
    } >&2
    gateways_down
}

# received_frames NS: frames that in0 and out0 of the namespace received.
received_frames() {
    ip netns exec "$1" cat /sys/class/net/in0/statistics/rx_packets \
        /sys/class/net/out0/statistics/rx_packets | awk '{ n += $1 } END { print n }'
}

# worker_packets GW: frames the gateway's workers took from their RX rings.
worker_packets() {
    tl "$1" show dataplane --json | python3 -c '
import json, sys
print(sum(w["packets"] for w in json.load(sys.stdin)["workers"]))'
}

# check_through_tunnel LABEL DECRYPTED RECEIVED: fail unless swB decrypted
# at least as many ESP packets as hostB received.
check_through_tunnel() {
    (($2 >= $3)) ||
        die "$1: swB decrypted $2 ESP packets but hostB received $3: traffic bypassed the tunnel"
}

# check_tagging on|off RECEIVED: with tagging on, swA tagged and swB
# untagged every packet; with it off, none.
check_tagging() {
    if [[ $1 == on ]]; then
        ((D_TAG_A >= $2 && D_UNTAG_B >= $2)) ||
            die "tagging on: swA tagged $D_TAG_A and swB untagged $D_UNTAG_B packets, hostB received $2"
    else
        ((D_TAG_A == 0 && D_UNTAG_B == 0)) ||
            die "tagging off: swA tagged $D_TAG_A and swB untagged $D_UNTAG_B packets"
    fi
}

# result CMD ARGS...: run an emit command for stdout and once more, as JSON,
# into the results file that the summary reads.
result() {
    "$@"
    JSON_OUTPUT=1 "$@" >>"$BENCH_TMP/results.jsonl"
}

# bench_cleanup_namespaces: delete the namespaces made so far, before the
# next system's are built, so that they do not share the machine with idle veths.
bench_cleanup_namespaces() {
    local i
    for ((i = ${#BENCH_NAMESPACES[@]} - 1; i >= 0; i--)); do
        ip netns del "${BENCH_NAMESPACES[i]}" 2>/dev/null || true
    done
    BENCH_NAMESPACES=()
}
