# shellcheck shell=bash
# Hostile IKEv2 input against a running lab, sourced by tests.sh. A Python
# initiator (ikepeer.py, cases in ikecases.py) runs in gw2's namespace from
# 198.51.100.77. Both gateways have a pre-shared key for that address but no
# crypto map, so the input travels on the initiator's own IKE SAs, and the
# gw1-gw2 tunnel must carry traffic throughout.

# hostile_case CASE: runs one ikecases.py case against gw1 and prints its JSON result.
hostile_case() {
    ip netns exec "$ns_gw2" env PYTHONPATH="$here" python3 "$here/ikepeer.py" \
        --local 198.51.100.77 --gateway 198.51.100.1 --psk hostile-secret "$1"
}

# json_field JSON KEY: prints one field of a case result.
json_field() {
    python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"
}

# negotiator_rss_kb GW: resident memory of the gateway's ike-negotiator in kB.
negotiator_rss_kb() {
    local pid
    pid=$(supervisorctl -c "$LAB_DIR/$1/supervisord.conf" pid ike-negotiator)
    awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"
}

# Sends bad SKF numbers, fragments without negotiation, replayed requests,
# Deletes with absurd SPI counts, truncated KE, an IKE_SA_INIT flood past the
# COOKIE threshold with forged and replayed cookies, and 63 KB of IKE_AUTH
# fragments on each of 1000 half-open SAs. Each must be a counted drop or an
# error notify, ike-negotiator keeps its PID, and the tunnel carries pings.
lab_hostile_ike() {
    python3 -c 'import cryptography' 2>/dev/null ||
        fail "python3-cryptography not found; install it: apt-get install -y python3-cryptography"
    lab_start \
        --extra-config "crypto ikev2 keyring labkeys" --extra-config " peer hostile" \
        --extra-config "  address 198.51.100.77 255.255.255.255" \
        --extra-config "  pre-shared-key hostile-secret" \
        --extra-config "crypto ikev2 profile lab" \
        --extra-config " match identity remote address 198.51.100.77 255.255.255.255"
    ip netns exec "$ns_gw2" ip addr add 198.51.100.77/24 dev out0
    local conf=$LAB_DIR/gw1/supervisord.conf pid_before result case
    pid_before=$(supervisorctl -c "$conf" pid ike-negotiator)

    result=$(hostile_case fragments_bad_numbers)
    echo "fragments_bad_numbers: $result"
    for case in "number 0" "number above total" "total 0" "huge total" "total changes lower" \
        "duplicate" "overlapping content"; do
        expect_eq "reply to fragment case '$case'" silent "$(json_field "$result" "$case")"
    done
    expect_eq "reply to a complete set out of order" "reply []" \
        "$(json_field "$result" "complete out of order")"
    expect_eq "IKE SA alive after bad fragments" True "$(json_field "$result" alive)"

    result=$(hostile_case fragments_not_negotiated)
    echo "fragments_not_negotiated: $result"
    expect_eq "IKE SA alive after an unexpected fragment" True "$(json_field "$result" alive)"

    result=$(hostile_case replay)
    echo "replay: $result"
    expect_eq "answers to a replayed older INFORMATIONAL" 0 \
        "$(json_field "$result" "replayed informational answered")"
    expect_eq "answers to a replayed CREATE_CHILD_SA" 20 \
        "$(json_field "$result" "replayed create child answered")"
    expect_eq "IKE SA alive after replays" True "$(json_field "$result" alive)"

    result=$(hostile_case delete_absurd)
    echo "delete_absurd: $result"
    expect_eq "reply to a Delete of 65535 SPIs in 4 bytes" "['INVALID_SYNTAX']" \
        "$(json_field "$result" "esp count 65535, 4 bytes")"
    expect_eq "reply to an IKE SA Delete naming 5 SPIs" "['INVALID_SYNTAX']" \
        "$(json_field "$result" "ike with count 5")"
    expect_eq "IKE SA alive after the malformed Deletes" True \
        "$(json_field "$result" "alive after ike delete")"

    result=$(hostile_case truncated_ke)
    echo "truncated_ke: $result"
    expect_eq "IKE SA alive after truncated KE payloads" True "$(json_field "$result" alive)"

    result=$(INIT_COUNT=200 hostile_case init_flood)
    echo "init_flood: $result"
    expect_eq "responses before the COOKIE threshold" 50 "$(json_field "$result" response)"
    expect_eq "reply to a forged COOKIE" "['COOKIE']" "$(json_field "$result" "forged cookie")"
    expect_eq "reply to the COOKIE of another SPI" "['COOKIE']" \
        "$(json_field "$result" "cookie of another SPI")"
    expect_eq "IKE SA through the COOKIE exchange" True \
        "$(json_field "$result" "cookie exchange then auth")"

    # The half-open SAs of the flood end after 30 s, so wait until 1000 fit.
    sleep 31
    local rss_before rss_after
    rss_before=$(negotiator_rss_kb gw1)
    result=$(HALF_OPEN=1000 hostile_case half_open_fragment_memory)
    echo "half_open_fragment_memory: $result"
    rss_after=$(negotiator_rss_kb gw1)
    echo "ike-negotiator RSS $rss_before kB before, $rss_after kB after"
    # 1000 half-open SAs, with at most 8 MiB of fragments held for all of
    # them together, plus slack.
    [ $((rss_after - rss_before)) -lt 65536 ] ||
        fail "ike-negotiator grew by $((rss_after - rss_before)) kB for 1000 half-open SAs"

    tl gw1 show crypto ikev2 stats
    expect_eq "ike-negotiator PID after hostile input" "$pid_before" \
        "$(supervisorctl -c "$conf" pid ike-negotiator)"
    expect_eq "Child SAs on gw1" 1 "$(child_sa_count gw1)"
    expect_eq "echo replies after hostile input" 5 "$(ping_count "$ns_hostA" 203.0.113.2 5)"
}
