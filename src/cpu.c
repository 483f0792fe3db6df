/*
 * cpu.c - keeping background work and request workers on separate CPUs.
 * See include/rfs/cpu.h for why.
 *
 * State: the CPUs the process had at start (all), the same without the
 * background CPU (fore), how many threads are doing background work now
 * (bg_active) and a generation bumped whenever bg_active leaves or reaches
 * zero.  A worker compares the generation with the one it last acted on, so
 * the request path pays one atomic load while nothing changes; the mask it
 * then takes is read from bg_active, which the generation only announces.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rfs/cpu.h"

#define BG_NICE 10

static cpu_set_t all, fore;
static int bg_cpu = -1;                 /* -1: fewer than two CPUs */
static atomic_uint bg_active, gen;
static _Thread_local unsigned worker_gen;
static _Thread_local int bg_depth;

void
rfs_cpu_init(void)
{
	CPU_ZERO(&all);
	if (sched_getaffinity(0, sizeof(all), &all) != 0 ||
	    CPU_COUNT(&all) < 2)
		return;
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &all)) {
			bg_cpu = c;
			break;
		}
	fore = all;
	CPU_CLR(bg_cpu, &fore);
}

static void
set_self(const cpu_set_t *set)
{
	/* Best effort: a failure leaves the thread where it was. */
	(void)pthread_setaffinity_np(pthread_self(), sizeof(*set), set);
}

int
rfs_cpu_bg_begin(void)
{
	int old;

	if (bg_cpu >= 0 && bg_depth++ == 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(bg_cpu, &one);
		set_self(&one);
		if (atomic_fetch_add(&bg_active, 1) == 0)
			atomic_fetch_add(&gen, 1);
	}
	/* Linux sets the nice value per thread. */
	errno = 0;
	old = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno != 0 || old >= BG_NICE)
		return INT_MIN;
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), BG_NICE);
	return old;
}

void
rfs_cpu_bg_end(int token)
{
	if (token != INT_MIN)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), token);
	if (bg_cpu >= 0 && --bg_depth == 0) {
		set_self(&all);
		if (atomic_fetch_sub(&bg_active, 1) == 1)
			atomic_fetch_add(&gen, 1);
	}
}

void
rfs_cpu_worker_wait(void)
{
	unsigned g = atomic_load(&gen);

	if (g == worker_gen)
		return;
	worker_gen = g;
	set_self(atomic_load(&bg_active) > 0 ? &fore : &all);
}
