# shellcheck shell=bash
# Interop tests against strongSwan for PFS on Child SA rekeys, a PFS
# mismatch, the IKE SA rekey with Tagline as responder, and strongSwan
# behind a NAT with Tagline as responder. tests.sh sources this file after
# interop.sh, whose helpers these tests use. Each test takes less than a minute.

# sw_set_esp PROPOSALS: loads strongSwan's connection again with those ESP
# proposals. The IKE SAs and Child SAs already up keep theirs.
sw_set_esp() {
    sed -i "s/esp_proposals = .*/esp_proposals = $1/" "$sw_dir/swanctl/swanctl.conf"
    sw --load-conns --file "$sw_dir/swanctl/swanctl.conf" >/dev/null ||
        fail "strongSwan did not load the ESP proposals $1"
}

# interop_restart ROLE: stops Tagline, removes strongSwan's IKE SA and starts
# Tagline again in ROLE with the configuration interop_write_config writes.
interop_restart() {
    "$root/compose/gateway" stop --dir "$LAB_DIR/gw" >/dev/null
    sw --terminate --ike peer --force >/dev/null 2>&1 || true
    rm -rf "$LAB_DIR/gw"
    interop_write_config "$1"
    interop_up "$1"
}

# tl_child_pfs: the PFS group of each Child SA Tagline lists, "none" without
# PFS. A Child SA from IKE_AUTH names the group its rekeys will use.
tl_child_pfs() {
    tl_cli show crypto ipsec sa --json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["childSAs"]:
    print(e["childSA"].get("pfsGroup") or "none")'
}

# expect_pfs NAME NUMBER WHAT: strongSwan's Child SA shows DH group NAME (its
# --list-sas form, e.g. ECP_256) after WHAT, and Tagline's shows group NUMBER.
expect_pfs() {
    local sas
    sas=$(sw --list-sas)
    grep "INSTALLED, TUNNEL.*ESP:AES_GCM_16-128/$1\b" <<<"$sas" ||
        fail "strongSwan's Child SA after $3 does not show DH group $1: $sas"
    expect_eq "Tagline's PFS group after $3" "$2" "$(tl_child_pfs)"
}

# Child SA rekeys with PFS, Tagline initiating with `set pfs group19` and
# strongSwan offering aes128gcm16-ecp256: strongSwan rekeys, then Tagline (at
# its 2560 KB lifetime). IKE_AUTH's Child SA has no PFS. After each rekey
# both sides name group 19 for the new Child SA.
interop_pfs() {
    interop_topology aes128-sha256-ecp256 aes128gcm16-ecp256
    map_extra=" set security-association lifetime kilobytes 2560
 set pfs group19"
    interop_write_config initiator
    interop_up initiator
    sw --list-sas | grep -E "INSTALLED, TUNNEL.*ESP:AES_GCM_16-128$" ||
        fail "strongSwan's Child SA from IKE_AUTH names a DH group"
    interop_pings
    interop_sw_rekey_child
    expect_pfs ECP_256 19 "strongSwan's rekey"
    interop_tl_rekey_child
    expect_pfs ECP_256 19 "Tagline's rekey"
    expect_eq "IKE SAs on Tagline" 1 "$(tl_ike_field tunnelID | wc -l)"
}

# As interop_pfs with Tagline responding with `set pfs group31` to
# strongSwan, which offers aes128gcm16-curve25519.
interop_pfs_responder() {
    interop_topology aes128-sha256-ecp256 aes128gcm16-curve25519
    map_extra=" set security-association lifetime kilobytes 2560
 set pfs group31"
    interop_write_config responder
    interop_up responder
    sw --list-sas | grep -E "INSTALLED, TUNNEL.*ESP:AES_GCM_16-128$" ||
        fail "strongSwan's Child SA from IKE_AUTH names a DH group"
    interop_pings
    interop_sw_rekey_child
    expect_pfs CURVE_25519 31 "strongSwan's rekey"
    interop_tl_rekey_child
    expect_pfs CURVE_25519 31 "Tagline's rekey"
    expect_eq "IKE SAs on Tagline" 1 "$(tl_ike_field tunnelID | wc -l)"
    expect_eq "IKE SAs on strongSwan" 1 "$(sw_ike_count)"
}

# A rekey whose PFS does not match is rejected with NO_PROPOSAL_CHOSEN, and
# the old Child SA keeps carrying traffic under the same IKE SA. First
# Tagline requires `set pfs group19` and strongSwan's rekey has no KE; then
# strongSwan requires ecp256 and Tagline's rekey at its soft lifetime
# (90 % of 2560 KB) has none. That Child SA then lasts until its hard
# lifetime, where Tagline deletes it and both sides keep the IKE SA.
interop_pfs_mismatch() {
    interop_topology aes128-sha256-ecp256 aes128gcm16
    map_extra=" set pfs group19"
    interop_write_config initiator
    interop_up initiator
    interop_pings
    local old ike
    old=$(sw_spis)
    ike=$(tl_ike_field localSPI)
    sw --rekey --child net >/dev/null || true
    wait_until 10 "strongSwan received NO_PROPOSAL_CHOSEN for its rekey" \
        grep -q "parsed CREATE_CHILD_SA response .*N(NO_PROP)" "$sw_dir/charon.log"
    grep -h "CREATE_CHILD_SA rejected: .*PFS group 19 required" "$LAB_DIR"/gw/logs/*.log ||
        fail "Tagline's log does not say why it rejected strongSwan's rekey"
    interop_expect_kept "$old" "$ike" "strongSwan's rejected rekey"

    sw_set_esp aes128gcm16-ecp256
    map_extra=" set security-association lifetime kilobytes 2560"
    interop_restart responder
    interop_pings
    old=$(sw_spis)
    ike=$(tl_ike_field localSPI)
    # 1.5 MB stay below the soft lifetime (2304 KB) even when segments are
    # sent twice: Tagline counts each TCP retransmission, strongSwan only
    # what arrives. A 2 MB stream left too little margin on a loaded machine.
    # 50 KB steps then pass the soft lifetime by less than the 256 KB left
    # before the hard one.
    interop_transfer 1500000 "1.5 MB TCP stream below Tagline's soft lifetime"
    local step
    for step in $(seq 1 30); do
        grep -qh "reached its soft lifetime" "$LAB_DIR"/gw/logs/*.log && break
        interop_transfer 50000 "50 KB TCP stream, step $step"
        sleep 0.5
    done
    wait_until 10 "Tagline's log shows strongSwan's NO_PROPOSAL_CHOSEN" \
        eval 'grep -h "Child SA rejected by peer: NO_PROPOSAL_CHOSEN" "$LAB_DIR"/gw/logs/*.log'
    grep "generating CREATE_CHILD_SA response .*N(NO_PROP)" "$sw_dir/charon.log" ||
        fail "strongSwan's log shows no NO_PROPOSAL_CHOSEN answer to Tagline's rekey"
    interop_expect_kept "$old" "$ike" "Tagline's rejected rekey"

    # 250 pings of 1300 bytes each way pass the hard lifetime: Tagline
    # deletes the Child SA and keeps the IKE SA.
    ip netns exec "$host_ns" ping -q -s 1300 -c 250 -i 0.02 -W 1 203.0.113.1 >/dev/null || true
    wait_until 10 "Tagline removed the Child SA at its hard lifetime" no_tl_child
    grep -h "kB used up" "$LAB_DIR"/gw/logs/*.log ||
        fail "Tagline's log does not name the hard lifetime"
    wait_until 5 "strongSwan removed the Child SA Tagline deleted" no_sw_child
    expect_eq "Tagline's IKE SA after the hard lifetime" "$ike" "$(tl_ike_field localSPI)"
    expect_eq "IKE SAs on strongSwan after the hard lifetime" 1 "$(sw_ike_count)"
}

# interop_expect_kept SPIS IKESPI WHAT: after WHAT, both sides still have the
# one Child SA with SPIS under Tagline's IKE SA IKESPI, and it carries pings.
interop_expect_kept() {
    wait_for_sas 5 1 || fail "the Child SAs do not pair up after $3"
    expect_eq "Child SA SPIs after $3" "$1" "$(sw_spis)"
    expect_eq "Tagline's IKE SA after $3" "$2" "$(tl_ike_field localSPI)"
    expect_eq "IKE SAs on strongSwan after $3" 1 "$(sw_ike_count)"
    interop_pings
}

# strongSwan rekeys its IKE SA while Tagline is the responder: the IKE SA
# SPIs change on both sides and the Child SA stays.
interop_rekey_ike_responder() {
    interop_topology aes128-sha256-ecp256 aes128gcm16
    interop_write_config responder
    interop_up responder
    expect_eq "Tagline's role" False "$(tl_ike_field isInitiator)"
    interop_pings
    interop_sw_rekey_ike
    interop_sw_rekey_ike
}

# strongSwan behind a NAT, Tagline responding: nat_ns forwards UDP 500 and
# 4500 of its 198.51.100.1 to Tagline's 198.51.100.130 and masquerades
# strongSwan's 198.51.100.2 behind its 198.51.100.129 with ports mapped to
# 40000-49999. strongSwan initiates to 198.51.100.1; both sides detect the
# NAT, IKE and ESP move to UDP 4500, and traffic flows.
interop_nat_responder() {
    interop_topology aes128-sha256-ecp256 aes128gcm16 --nat
    ip netns exec "$nat_ns" nft -f - <<'NFT'
table ip forward {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "natsw0" ip daddr 198.51.100.1 udp dport { 500, 4500 } dnat to 198.51.100.130
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "natgw0" meta l4proto udp masquerade to :40000-49999
    }
}
NFT
    # strongSwan's packets reach Tagline from 198.51.100.129, its IKE ID is 198.51.100.2.
    peer_match="198.51.100.0 255.255.255.0"
    interop_write_config responder
    interop_up responder
    expect_eq "Tagline's role" False "$(tl_ike_field isInitiator)"
    expect_eq "NAT detected by Tagline" True "$(tl_ike_field natDetected)"
    expect_eq "strongSwan's address as Tagline sees it" 198.51.100.129 \
        "$(tl_ike_field remoteAddress)"
    expect_eq "Tagline's IKE local port" 4500 "$(tl_ike_field localPort)"
    local port
    port=$(tl_ike_field remotePort)
    [ "$port" -ge 40000 ] && [ "$port" -le 49999 ] ||
        fail "Tagline's IKE remote port $port is not a mapped port 40000-49999"
    local sw_sas
    sw_sas=$(sw --list-sas)
    echo "$sw_sas"
    grep -q "remote '198.51.100.130' @ 198.51.100.1\[4500\]" <<<"$sw_sas" ||
        fail "strongSwan does not reach Tagline at 198.51.100.1 on UDP 4500"
    grep -q "TUNNEL-in-UDP" <<<"$sw_sas" || fail "strongSwan's Child SA is not ESP in UDP"
    interop_pings
    interop_sw_rekey_child
}
