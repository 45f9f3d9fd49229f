#ifndef SWITCHYARD_CEVENTLOOP_SHIM_H
#define SWITCHYARD_CEVENTLOOP_SHIM_H
/* Linux readiness APIs the Swift Glibc module does not import: epoll(7) and eventfd(2).
   Everything else the event loop needs (pthreads, clock_gettime, read/write) comes from Glibc. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <malloc.h>

/* Gives free heap memory back to the system (glibc keeps what a burst freed in its arenas, so a
   process's RSS otherwise stays at its high-water mark). */
static inline void sy_loop_release_free_memory(void) { malloc_trim(0); }

/* The CPUs this process may run on (its affinity mask, which taskset and container CPU sets
   narrow). sched_getaffinity and CPU_COUNT need _GNU_SOURCE, which this header cannot set after
   other modules included <sched.h>, so the system call is made directly and its bits counted. */
#include <sys/syscall.h>
#include <unistd.h>
static inline int sy_loop_available_cpus(void)
{
    unsigned long mask[16] = {0};
    long bytes = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
    if (bytes <= 0) return 1;
    int n = 0;
    for (long i = 0; i < bytes / (long)sizeof(unsigned long); i++) n += __builtin_popcountl(mask[i]);
    return n > 0 ? n : 1;
}
#endif
