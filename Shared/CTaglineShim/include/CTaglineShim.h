// Linux kernel headers that Swift cannot reach through Glibc alone, and
// small inline helpers for macros and variadic calls Swift cannot import.
#ifndef CTAGLINE_SHIM_H
#define CTAGLINE_SHIM_H

#include <stdint.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <linux/virtio_net.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <fcntl.h>
#include <pthread.h>

/// fcntl is variadic, so Swift cannot call it with an argument.
static inline int tagline_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/// ioctl is variadic; SIOCGIFINDEX and SIOCGIFHWADDR take a struct ifreq.
static inline int tagline_ioctl_ifreq(int fd, unsigned long request, struct ifreq *ifr) {
    return ioctl(fd, request, ifr);
}

// Atomics for the dataplane. Swift 5 language mode has no atomics of its own
// that can live in raw memory. The lock-free table swap, the per-worker
// epochs and the shared counters therefore use these GCC/Clang builtins,
// which follow the C11 memory model with the ordering named in each helper.

/// Acquire load of a published pointer (the packet path's table lookup).
static inline void *tagline_atomic_load_pointer(void *const *slot) {
    return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/// Stores `value` with release ordering and returns the previous pointer.
static inline void *tagline_atomic_exchange_pointer(void **slot, void *value) {
    return __atomic_exchange_n(slot, value, __ATOMIC_ACQ_REL);
}

/// Acquire load of a 64-bit counter or epoch.
static inline uint64_t tagline_atomic_load_u64(const uint64_t *slot) {
    return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/// Release store of a 64-bit counter or epoch.
static inline void tagline_atomic_store_u64(uint64_t *slot, uint64_t value) {
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

/// Relaxed add that returns the previous value (counters, sequence numbers).
static inline uint64_t tagline_atomic_fetch_add_u64(uint64_t *slot, uint64_t value) {
    return __atomic_fetch_add(slot, value, __ATOMIC_RELAXED);
}

/// Strong compare-and-swap with acquire-release ordering; returns 1 on success.
static inline int tagline_atomic_compare_exchange_u64(uint64_t *slot, uint64_t expected,
                                                      uint64_t desired) {
    return __atomic_compare_exchange_n(slot, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/// Strong compare-and-swap with acquire-release ordering that returns the value found, so a
/// retry loop (the replay window's bitmap words) needs no second load after a failure.
/// The swap happened when the returned value equals `expected`.
static inline uint64_t tagline_atomic_compare_exchange_previous_u64(uint64_t *slot,
                                                                    uint64_t expected,
                                                                    uint64_t desired) {
    __atomic_compare_exchange_n(slot, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return expected;
}

/// Full memory fence between a ring status read and the frame data that follows it.
static inline void tagline_atomic_fence(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/// Acquire load of a ring status word that the kernel writes (tp_status, block_status).
static inline uint32_t tagline_atomic_load_u32(const volatile uint32_t *slot) {
    return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/// Release store of a ring status word, handing the frame or block back to the kernel.
static inline void tagline_atomic_store_u32(volatile uint32_t *slot, uint32_t value) {
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

#include <unistd.h>
#include <sys/syscall.h>

/// setns(2) is declared only under _GNU_SOURCE, which the Glibc module Swift imports does
/// not define. The dataplane tests move a thread into a lab network namespace with it.
static inline int tagline_setns(int fd, int nstype) {
    return (int)syscall(SYS_setns, fd, nstype);
}

/// Pins `thread` to the one CPU `cpu` with pthread_setaffinity_np. cpu_set_t and its
/// macros need _GNU_SOURCE, which the Glibc module Swift imports does not define, so the
/// body lives in shim.c. Returns 0 or an errno value (EINVAL for a CPU outside 0..<1024).
int tagline_pin_thread(pthread_t thread, int cpu);

/// 1 when `cpu` is in the calling thread's allowed CPU set (sched_getaffinity), 0 when it
/// is not, -1 with errno set when the set cannot be read. Body in shim.c, as above.
int tagline_cpu_allowed(int cpu);

#include <string.h>
#include <netinet/in.h>
#include <errno.h>

/// The kernel's struct tcp_md5sig from linux/tcp.h, copied here because
/// linux/tcp.h redefines the structs of glibc's netinet/tcp.h. SXP signs its
/// TCP connections with it (RFC 2385 TCP-MD5).
struct tagline_tcp_md5sig {
    struct sockaddr_storage addr;
    uint8_t flags;
    uint8_t prefix_length;
    uint16_t key_length;
    int ifindex;
    uint8_t key[80];
};
_Static_assert(sizeof(struct tagline_tcp_md5sig) == 216, "struct tcp_md5sig is 216 bytes");

/// TCP_MD5SIG from linux/tcp.h, for the same reason.
#define TAGLINE_TCP_MD5SIG 14

/// Sets (or, with key_length 0, removes) the TCP-MD5 key for connections
/// between `fd` and the address `peer`, with setsockopt(TCP_MD5SIG). Swift
/// cannot fill the struct's sockaddr_storage from a sockaddr_in in place.
/// Returns 0, or -1 with errno set (EINVAL for a key longer than 80 bytes).
static inline int tagline_set_tcp_md5(int fd, const struct sockaddr *peer, socklen_t peer_length,
                                      const uint8_t *key, uint16_t key_length) {
    struct tagline_tcp_md5sig sig;
    if (key_length > sizeof(sig.key) || peer_length > sizeof(sig.addr)) {
        errno = EINVAL;
        return -1;
    }
    memset(&sig, 0, sizeof(sig));
    memcpy(&sig.addr, peer, peer_length);
    sig.key_length = key_length;
    if (key_length > 0) memcpy(sig.key, key, key_length);
    return setsockopt(fd, IPPROTO_TCP, TAGLINE_TCP_MD5SIG, &sig, sizeof(sig));
}

#endif
