/* The helpers that need _GNU_SOURCE; the rest of the target is its header. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "CTaglineShim.h"

int tagline_pin_thread(pthread_t thread, int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(thread, sizeof set, &set);
}

int tagline_cpu_allowed(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    if (cpu < 0 || cpu >= CPU_SETSIZE) return 0;
    return CPU_ISSET(cpu, &set) ? 1 : 0;
}
