# shellcheck shell=bash
# Interop tests against strongSwan for the ESN transform of ESP proposals.
# tests.sh sources this file after interop.sh, whose helpers these tests use.
#
# strongSwan's kernel-libipsec (5.9.8, the userspace ESP these tests use
# because this kernel has no XFRM ESP) refuses every ESN SA with "IPsec SA:
# ESN not supported", so no ESN traffic can cross to strongSwan here. The
# tests show that offering ESN does not disturb a peer without it, that a
# responder without `crypto ipsec esn` chooses "no ESN" from an ESN offer,
# and that with the line Tagline does pick ESN on the wire.

# tl_child_esn: "esn" or "no" for each Child SA Tagline lists.
tl_child_esn() {
    tl_cli show crypto ipsec sa --json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["childSAs"]:
    print("esn" if e["childSA"].get("extendedSequenceNumbers") else "no")'
}

# Tagline initiates with `crypto ipsec esn`, so its proposal lists ESN and
# no ESN. strongSwan, configured with aes128gcm16 (no ESN only), picks no
# ESN, and traffic crosses both ways.
interop_esn() {
    # At cfg level 2 charon logs the proposals it received.
    sw_log_levels=cfg=2
    interop_topology aes128-sha256-ecp256 aes128gcm16
    extra="crypto ipsec esn"
    interop_write_config initiator
    interop_up initiator
    grep "received proposals: .*ESP:AES_GCM_16_128/EXT_SEQ/NO_EXT_SEQ" "$sw_dir/charon.log" ||
        fail "strongSwan's log shows no ESP proposal with ESN and no ESN from Tagline"
    grep "selected proposal: ESP:AES_GCM_16_128/NO_EXT_SEQ" "$sw_dir/charon.log" ||
        fail "strongSwan's log shows no selected ESP proposal without ESN"
    sw --list-sas | grep -E "INSTALLED, TUNNEL.*ESP:AES_GCM_16-128$" ||
        fail "strongSwan's Child SA does not show AES_GCM_16-128 without ESN"
    expect_eq "Tagline's ESN choice" "no" "$(tl_child_esn)"
    interop_pings
}

# strongSwan initiates offering aes128gcm16-esn-noesn. Tagline without
# `crypto ipsec esn` chooses no ESN and traffic crosses. With the line
# Tagline chooses ESN: its log names ESN, and strongSwan's kernel-libipsec
# then refuses to install the ESN SA.
interop_esn_responder() {
    interop_topology aes128-sha256-ecp256 aes128gcm16-esn-noesn
    interop_write_config responder
    interop_up responder
    expect_eq "Tagline's ESN choice without the line" "no" "$(tl_child_esn)"
    interop_pings

    "$root/compose/gateway" stop --dir "$LAB_DIR/gw" >/dev/null
    sw --terminate --ike peer --force >/dev/null 2>&1 || true
    rm -rf "$LAB_DIR/gw"
    extra="crypto ipsec esn"
    interop_write_config responder
    "$root/compose/gateway" start --dir "$LAB_DIR/gw" --config "$LAB_DIR/gw.cfg" --bin "$bin" \
        --netns "$gw_ns" --inside in0 --outside out0
    "$peer" initiate --ns "$sw_ns" --timeout 20 || true
    wait_until 20 "Tagline's log shows a Child SA with ESN" \
        eval 'grep -h "Child SA up.*ESN" "$LAB_DIR"/gw/logs/*.log'
    wait_until 10 "strongSwan's kernel-libipsec refused the ESN SA" \
        grep -q "IPsec SA: ESN not supported" "$sw_dir/charon.log"
}
