/*
 * udp-pacer: send one constant Ethernet/IPv4/UDP frame through a
 * PACKET_TX_RING at an even rate, for the ESP forwarding benchmark.
 *
 *   udp-pacer [-r RATE] [-d SECONDS] [-t TICK_US] IFNAME SRC_MAC DST_MAC
 *             SRC_IP DST_IP SRC_PORT DST_PORT IP_SIZE
 *
 * The frame is built once: IPv4 with DF set, TTL 64 and IP ID 0, UDP with
 * its checksum, payload bytes 0x5a, IP_SIZE bytes from the IP header on.
 * Every ring slot contains a copy from the start, so sending a frame only
 * writes the slot's status.
 *
 * Pacing: a tick every TICK_US microseconds (clock_nanosleep with
 * TIMER_ABSTIME on CLOCK_MONOTONIC). Each tick fills the slots of the frames
 * due since the start (RATE * elapsed time) and flushes them with one
 * send(). A frame that is due while its slot still waits for the kernel is
 * not sent and counts as "ring full". The schedule moves on, so the rate
 * stays even. RATE 0 sends as fast as the ring allows, and there a full
 * ring only means waiting.
 *
 * The socket uses PACKET_QDISC_BYPASS and protocol 0, so it receives
 * nothing. Results go to stdout:
 *
 *   udp-pacer: sent N frames in S s
 *   udp-pacer: ring full M frames
 *
 * SIGINT and SIGTERM end the run early, and the lines are printed all the
 * same. Exit codes: 0 ok, 1 a system call failed, 2 usage.
 *
 * Build: gcc -O2 -Wall -Wextra -o udp-pacer udp-pacer.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT_SIZE 2048u
#define SLOTS_PER_BLOCK 32u
#define BLOCK_COUNT 128u /* 4096 slots */
#define SLOT_COUNT (SLOTS_PER_BLOCK * BLOCK_COUNT)
#define ETH_HEADER_SIZE 14u
#define MIN_IP_SIZE 28u
/* Offset of the frame in a TPACKET_V2 TX slot without PACKET_TX_HAS_OFF. */
#define SLOT_DATA_OFFSET (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define MAX_IP_SIZE (SLOT_SIZE - SLOT_DATA_OFFSET - ETH_HEADER_SIZE)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void usage(void) {
    fprintf(stderr,
            "Usage: udp-pacer [-r RATE] [-d SECONDS] [-t TICK_US] IFNAME SRC_MAC DST_MAC\n"
            "                 SRC_IP DST_IP SRC_PORT DST_PORT IP_SIZE\n"
            "  -r RATE     frames per second, 0 = as fast as possible (default 0)\n"
            "  -d SECONDS  how long to send (default 1, decimals allowed)\n"
            "  -t TICK_US  pacing tick in microseconds, 100..1000 (default 200)\n"
            "  IP_SIZE     IPv4 packet size in bytes, %u..%zu\n",
            MIN_IP_SIZE, (size_t)MAX_IP_SIZE);
}

static void fail(const char *what) {
    fprintf(stderr, "udp-pacer: error: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_mac(const char *text, uint8_t mac[6]) {
    unsigned int b[6];
    char extra;
    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &extra) != 6)
        return -1;
    for (int i = 0; i < 6; i++) mac[i] = (uint8_t)b[i];
    return 0;
}

/* Parse a decimal in [min, max]; return -1 if the text is not one. */
static long long parse_uint(const char *text, long long min, long long max) {
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return -1;
    return value;
}

/* Sum of 16-bit big-endian words, for the Internet checksum (RFC 1071). */
static uint32_t sum16(const uint8_t *data, size_t length, uint32_t sum) {
    for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t)data[i] << 8 | data[i + 1];
    if (length & 1) sum += (uint32_t)data[length - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t value) {
    p[0] = (uint8_t)(value >> 8);
    p[1] = (uint8_t)value;
}

/* Build the Ethernet frame of one UDP datagram and return its length. */
static size_t build_frame(uint8_t *frame, const uint8_t src_mac[6], const uint8_t dst_mac[6],
                          struct in_addr src, struct in_addr dst, uint16_t src_port,
                          uint16_t dst_port, uint16_t ip_size) {
    uint8_t *ip = frame + ETH_HEADER_SIZE;
    uint8_t *udp = ip + 20;
    uint16_t udp_length = (uint16_t)(ip_size - 20);

    memcpy(frame, dst_mac, 6);
    memcpy(frame + 6, src_mac, 6);
    put16(frame + 12, ETHERTYPE_IP);

    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, ip_size);
    put16(ip + 6, 0x4000); /* DF, fragment offset 0 */
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    put16(ip + 10, fold(sum16(ip, 20, 0)));

    put16(udp, src_port);
    put16(udp + 2, dst_port);
    put16(udp + 4, udp_length);
    put16(udp + 6, 0);
    memset(udp + 8, 0x5a, udp_length - 8u);
    /* Pseudo header: addresses, protocol and UDP length. */
    uint32_t sum = sum16(ip + 12, 8, IPPROTO_UDP + (uint32_t)udp_length);
    uint16_t checksum = fold(sum16(udp, udp_length, sum));
    put16(udp + 6, checksum == 0 ? 0xffff : checksum); /* 0 means "no checksum" */
    return ETH_HEADER_SIZE + ip_size;
}

struct ring {
    int fd;
    uint8_t *map;
    unsigned int next;   /* next slot to fill, in ring order */
    uint64_t queued;     /* frames handed to the kernel */
    uint64_t send_errors;
};

static struct tpacket2_hdr *slot(struct ring *ring, unsigned int index) {
    return (struct tpacket2_hdr *)(ring->map + (size_t)index * SLOT_SIZE);
}

static int slot_available(struct tpacket2_hdr *header) {
    return __atomic_load_n(&header->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_AVAILABLE;
}

static void open_ring(struct ring *ring, const char *ifname, const uint8_t *frame,
                      size_t frame_length) {
    unsigned int ifindex = if_nametoindex(ifname);
    if (ifindex == 0) fail(ifname);
    ring->fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (ring->fd < 0) fail("socket(AF_PACKET)");
    int version = TPACKET_V2, one = 1;
    if (setsockopt(ring->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0)
        fail("PACKET_VERSION");
    if (setsockopt(ring->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
        fail("PACKET_QDISC_BYPASS");
    struct tpacket_req request = {
        .tp_block_size = SLOT_SIZE * SLOTS_PER_BLOCK,
        .tp_block_nr = BLOCK_COUNT,
        .tp_frame_size = SLOT_SIZE,
        .tp_frame_nr = SLOT_COUNT,
    };
    if (setsockopt(ring->fd, SOL_PACKET, PACKET_TX_RING, &request, sizeof request) < 0)
        fail("PACKET_TX_RING");
    size_t map_size = (size_t)SLOT_SIZE * SLOT_COUNT;
    ring->map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, ring->fd, 0);
    if (ring->map == MAP_FAILED) fail("mmap of the TX ring");
    struct sockaddr_ll address = {
        .sll_family = AF_PACKET,
        .sll_protocol = 0,
        .sll_ifindex = (int)ifindex,
    };
    if (bind(ring->fd, (struct sockaddr *)&address, sizeof address) < 0) fail("bind");
    for (unsigned int i = 0; i < SLOT_COUNT; i++) {
        memcpy((uint8_t *)slot(ring, i) + SLOT_DATA_OFFSET, frame, frame_length);
        slot(ring, i)->tp_len = (uint32_t)frame_length;
    }
    ring->next = 0;
    ring->queued = 0;
    ring->send_errors = 0;
}

/* Hand the next slot to the kernel, or return 0 if the kernel still owns it. */
static int fill(struct ring *ring) {
    struct tpacket2_hdr *header = slot(ring, ring->next);
    if (!slot_available(header)) return 0;
    __atomic_store_n(&header->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    ring->next = (ring->next + 1) % SLOT_COUNT;
    ring->queued++;
    return 1;
}

static void flush(struct ring *ring, int flags) {
    if (send(ring->fd, NULL, 0, flags) < 0 && errno != EAGAIN && errno != EINTR)
        ring->send_errors++;
}

/* Flush once more and count the slots still waiting for the kernel (after at most 1 s). */
static unsigned int unsent(struct ring *ring) {
    unsigned int waiting = 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        flush(ring, MSG_DONTWAIT);
        waiting = 0;
        for (unsigned int i = 0; i < SLOT_COUNT; i++) waiting += !slot_available(slot(ring, i));
        if (waiting == 0) break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 10000000};
        nanosleep(&pause, NULL);
    }
    return waiting;
}

/* Send RATE frames/s for DURATION_NS and return the frames skipped for a full ring. */
static uint64_t send_paced(struct ring *ring, uint64_t rate, int64_t duration_ns,
                           int64_t tick_ns, int64_t start) {
    uint64_t total = (uint64_t)((double)rate * (double)duration_ns / 1e9);
    uint64_t scheduled = 0, ring_full = 0;
    int64_t wake = start;
    while (!stop_requested && scheduled < total) {
        wake += tick_ns;
        struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
        int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (rc != 0 && rc != EINTR) {
            errno = rc;
            fail("clock_nanosleep");
        }
        if (stop_requested) break;
        int64_t elapsed = now_ns() - start;
        uint64_t due = (uint64_t)((double)rate * (double)elapsed / 1e9);
        if (due > total) due = total;
        int filled = 0;
        for (; scheduled < due; scheduled++) {
            if (fill(ring))
                filled = 1;
            else
                ring_full++;
        }
        if (filled) flush(ring, MSG_DONTWAIT);
    }
    return ring_full;
}

/* Send as many frames as the ring takes, for DURATION_NS. */
static void send_unpaced(struct ring *ring, int64_t duration_ns, int64_t start) {
    while (!stop_requested && now_ns() - start < duration_ns) {
        int filled = 0;
        while (fill(ring)) filled++;
        /* Without MSG_DONTWAIT the call returns once the kernel took the frames. */
        if (filled) flush(ring, 0);
    }
}

int main(int argc, char **argv) {
    long long rate = 0, tick_us = 200;
    double seconds = 1;
    int option;
    while ((option = getopt(argc, argv, "r:d:t:h")) != -1) {
        switch (option) {
        case 'r':
            rate = parse_uint(optarg, 0, 100000000);
            if (rate < 0) {
                fprintf(stderr, "udp-pacer: invalid -r: expected 0..100000000 frames/s, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'd': {
            char *end;
            seconds = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(seconds > 0 && seconds <= 86400)) {
                fprintf(stderr, "udp-pacer: invalid -d: expected seconds in (0, 86400], got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 't':
            tick_us = parse_uint(optarg, 100, 1000);
            if (tick_us < 0) {
                fprintf(stderr, "udp-pacer: invalid -t: expected 100..1000 microseconds, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (argc - optind != 8) {
        usage();
        return 2;
    }
    char **arg = argv + optind;
    uint8_t src_mac[6], dst_mac[6];
    struct in_addr src_ip, dst_ip;
    long long src_port = parse_uint(arg[5], 0, 65535), dst_port = parse_uint(arg[6], 0, 65535);
    long long ip_size = parse_uint(arg[7], MIN_IP_SIZE, (long long)MAX_IP_SIZE);
    const char *invalid = NULL;
    if (parse_mac(arg[1], src_mac) < 0) invalid = "SRC_MAC";
    else if (parse_mac(arg[2], dst_mac) < 0) invalid = "DST_MAC";
    else if (inet_pton(AF_INET, arg[3], &src_ip) != 1) invalid = "SRC_IP";
    else if (inet_pton(AF_INET, arg[4], &dst_ip) != 1) invalid = "DST_IP";
    else if (src_port < 0) invalid = "SRC_PORT";
    else if (dst_port < 0) invalid = "DST_PORT";
    else if (ip_size < 0) invalid = "IP_SIZE";
    if (invalid) {
        fprintf(stderr, "udp-pacer: invalid %s; see udp-pacer -h\n", invalid);
        return 2;
    }

    uint8_t frame[SLOT_SIZE];
    size_t frame_length = build_frame(frame, src_mac, dst_mac, src_ip, dst_ip,
                                      (uint16_t)src_port, (uint16_t)dst_port, (uint16_t)ip_size);
    struct ring ring;
    open_ring(&ring, arg[0], frame, frame_length);

    struct sigaction action = {.sa_handler = on_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    fprintf(stderr, "udp-pacer: sending %lld-byte IP packets on %s at %s for %.3f s\n", ip_size,
            arg[0], rate == 0 ? "full rate" : "an even rate", seconds);
    int64_t duration_ns = (int64_t)(seconds * 1e9);
    int64_t start = now_ns();
    uint64_t ring_full = 0;
    if (rate == 0)
        send_unpaced(&ring, duration_ns, start);
    else
        ring_full = send_paced(&ring, (uint64_t)rate, duration_ns, tick_us * 1000, start);
    double elapsed = (double)(now_ns() - start) / 1e9;
    unsigned int waiting = unsent(&ring);

    printf("udp-pacer: sent %llu frames in %.6f s\n",
           (unsigned long long)(ring.queued - waiting), elapsed);
    printf("udp-pacer: ring full %llu frames\n", (unsigned long long)ring_full);
    if (ring.send_errors || waiting)
        fprintf(stderr, "udp-pacer: %llu send() calls failed, %u frames left unsent\n",
                (unsigned long long)ring.send_errors, waiting);
    return 0;
}
