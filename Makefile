# Tagline: build, demo and test entry points.
#
#   make demo    build, start the four-namespace lab, send traffic, print the
#                show and debug output, tear the lab down (needs root)
#   make test    unit tests, a 20 s run of each fuzz target, then the lab and
#                strongSwan interop tests (root)
#   make deps    install the Debian packages that are missing
#   make bench   IKE SA setup rate of Tagline and of strongSwan on this
#                machine, their ratio and the OpenSSL ceiling (root), the
#                packet path on memory against a bare AES-GCM loop, the LPM
#                binding table figures, SXP UPDATE ingestion over loopback,
#                then make bench-esp unless ESP_BENCH=0
#   make bench-esp  ESP packets/s (trafgen sender) and TCP goodput (iperf3)
#                through two Tagline gateways, strongSwan and a bare AF_PACKET
#                forwarder (root)
#
# Every target that needs a package runs `make deps` first, so a fresh
# Debian machine needs nothing but this repository and the Swift toolchain.

SHELL := /bin/bash
SWIFT ?= swift
CONFIGURATION ?= release
BUILD_DIR := .build/$(CONFIGURATION)
SHARED_DIR ?= $(abspath ../shared)

# Debian packages: the C libraries linked through .systemLibrary targets, the
# process supervisor, the lab's tools, the strongSwan peer for interop, and
# the ESP benchmark's senders (iperf3, and trafgen from netsniff-ng).
PACKAGES := pkg-config libzmq3-dev libssl-dev libsqlite3-dev sqlite3 \
	supervisor iproute2 iputils-ping ethtool tcpdump python3 \
	charon-systemd strongswan-swanctl libcharon-extra-plugins tshark nftables openssl \
	iperf3 netsniff-ng

.PHONY: all deps build demo demo-down test unit-test integration-test format lint-config clean

all: build

deps:
	@missing=$$(for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing missing Debian packages:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install them" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

build: deps
	$(SWIFT) build -c $(CONFIGURATION)

demo: build
	compose/lab/demo --bin $(BUILD_DIR)

demo-down:
	compose/lab/lab down

unit-test: deps
	$(SWIFT) test --disable-swift-testing

integration-test: build
	Tests/integration/run --bin $(BUILD_DIR) --shared $(SHARED_DIR)

test: unit-test fuzz-smoke integration-test

# BENCH_N IKE SAs at once, BENCH_ROUNDS rounds, for each system; see docs/benchmarks.md.
BENCH_N ?= 500
BENCH_ROUNDS ?= 5
# Packets per case of the in-memory pipeline run, and of its CPU-per-packet run.
BENCH_PACKETS ?= 100000
BENCH_CPU_PACKETS ?= 10000

.PHONY: bench

bench: build
	bench/ike-compare --bin $(BUILD_DIR) --shared $(SHARED_DIR) -n $(BENCH_N) --rounds $(BENCH_ROUNDS)
	bench/pipeline-rate --bin $(BUILD_DIR) --packets $(BENCH_PACKETS) --cpu-packets $(BENCH_CPU_PACKETS)
	$(BUILD_DIR)/tagline-bench lpm
	bench/binding-scale --bin $(BUILD_DIR)
	bench/sxp-ingest --bin $(BUILD_DIR)
	if [ "$(ESP_BENCH)" = 1 ]; then $(ESP_COMPARE); fi

# ESP forwarding comparison (bench/esp-compare, which runs bench/esp-trafgen);
# extra options in ESP_BENCH_ARGS, e.g. ESP_BENCH_ARGS='--duration 5 --no-tcp',
# or ESP_BENCH_ARGS='--generator iperf3' for the iperf3 loss-bounded search.
ESP_BENCH ?= 1
ESP_BENCH_ARGS ?=
ESP_COMPARE = bench/esp-compare --bin $(BUILD_DIR) --shared $(SHARED_DIR) $(ESP_BENCH_ARGS)

.PHONY: bench-esp

bench-esp: build
	$(ESP_COMPARE)

format:
	$(SWIFT) format --in-place --recursive Package.swift Shared Services Tests

clean:
	rm -rf .build

# Fuzzing: libFuzzer targets built with swiftc -sanitize=fuzzer,address (see
# Fuzz/README.md). `make fuzz` runs each target in FUZZ_TARGETS for
# FUZZ_SECONDS; `make fuzz-smoke` runs each for 20 seconds and fails on a
# crash, hang or leak.
FUZZ_TARGETS ?= ike-message ios-config dataplane-inbound sxp-message
FUZZ_SECONDS ?= 180

.PHONY: fuzz fuzz-smoke

fuzz: deps
	@for target in $(FUZZ_TARGETS); do Fuzz/run $$target $(FUZZ_SECONDS) || exit 1; done

fuzz-smoke: deps
	Fuzz/run smoke
