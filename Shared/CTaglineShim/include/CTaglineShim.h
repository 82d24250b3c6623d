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

#endif
