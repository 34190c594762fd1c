/*
 * Threads that give their CPU way to any other (SCHED_IDLE), promoted to an
 * ordinary thread while they starve, so that they never do for long.
 */
#ifndef FAULTFS_CPU_YIELD_H
#define FAULTFS_CPU_YIELD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cpu_yield;

/*
 * Whether this process may take a thread back from SCHED_IDLE (root, or an
 * RLIMIT_NICE that allows nice 0): without it a yielding thread could starve
 * for good, so none should yield.
 */
bool cpu_yield_allowed(void);

/* Starts the watcher of up to NTHREADS threads. 0 or -errno. */
int cpu_yield_start(size_t nthreads, struct cpu_yield **out);

/*
 * The calling thread yields from now on, watched as number I; it counts
 * the work it does in *PROGRESS (the watcher rests while none is done). 0 or -errno.
 */
int cpu_yield_join(struct cpu_yield *y, size_t i, _Atomic uint64_t *progress);

/* Stops the watcher (the threads it watched have ended) and frees Y. */
void cpu_yield_stop(struct cpu_yield *y);

#endif
