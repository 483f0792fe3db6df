/*
 * test_cpu.c - background work and request workers on separate CPUs.
 *
 * A worker is a thread of its own that calls rfs_cpu_worker_wait when told
 * to (as a request worker does before each wait) and reports the CPUs it
 * may then use.  With fewer than two CPUs nothing may move; the tests say
 * so and check just that.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"
#include "rfs/cpu.h"

static cpu_set_t all, fore, last;
static int ncpu, nice0, nice_bg;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* The worker: STEP asks it to wait once more, DONE says it did. */
static int step, done, quit;
static cpu_set_t seen;

static void *
worker(void *arg)
{
	pthread_mutex_lock(&mu);
	for (;;) {
		while (done == step && !quit)
			pthread_cond_wait(&cv, &mu);
		if (quit)
			break;
		rfs_cpu_worker_wait();
		CPU_ZERO(&seen);
		(void)sched_getaffinity(0, sizeof(seen), &seen);
		done = step;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return arg;
}

/* Has the worker wait once; returns the CPUs it may then use. */
static cpu_set_t
worker_waits(void)
{
	cpu_set_t out;

	pthread_mutex_lock(&mu);
	step++;
	pthread_cond_broadcast(&cv);
	while (done != step)
		pthread_cond_wait(&cv, &mu);
	out = seen;
	pthread_mutex_unlock(&mu);
	return out;
}

static cpu_set_t
mine(void)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	(void)sched_getaffinity(0, sizeof(s), &s);
	return s;
}

TEST(background_and_workers_part)
{
	cpu_set_t w;
	int tok;

	w = worker_waits();
	CHECK(CPU_EQUAL(&w, &all));
	tok = rfs_cpu_bg_begin();
	w = mine();
	CHECK(CPU_EQUAL(&w, ncpu >= 2 ? &last : &all));
	CHECK_EQ(getpriority(PRIO_PROCESS, 0), nice_bg);
	w = worker_waits();
	CHECK(CPU_EQUAL(&w, ncpu >= 2 ? &fore : &all));
	/* Waiting again with nothing changed keeps it there. */
	w = worker_waits();
	CHECK(CPU_EQUAL(&w, ncpu >= 2 ? &fore : &all));
	rfs_cpu_bg_end(tok);
	w = mine();
	CHECK(CPU_EQUAL(&w, &all));
	CHECK_EQ(getpriority(PRIO_PROCESS, 0), nice0);
	w = worker_waits();
	CHECK(CPU_EQUAL(&w, &all));
}

TEST(nested_background_ends_with_the_outermost)
{
	cpu_set_t w;
	int outer = rfs_cpu_bg_begin(), inner = rfs_cpu_bg_begin();

	rfs_cpu_bg_end(inner);
	w = mine();
	CHECK(CPU_EQUAL(&w, ncpu >= 2 ? &last : &all));
	CHECK_EQ(getpriority(PRIO_PROCESS, 0), nice_bg);
	w = worker_waits();
	CHECK(CPU_EQUAL(&w, ncpu >= 2 ? &fore : &all));
	rfs_cpu_bg_end(outer);
	CHECK_EQ(getpriority(PRIO_PROCESS, 0), nice0);
	w = worker_waits();
	CHECK(CPU_EQUAL(&w, &all));
}

static void *
bg_thread(void *arg)
{
	int tok = rfs_cpu_bg_begin();

	/* Holds background until the main thread has checked. */
	pthread_mutex_lock(&mu);
	*(int *)arg = 1;
	pthread_cond_broadcast(&cv);
	while (*(int *)arg != 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	rfs_cpu_bg_end(tok);
	return NULL;
}

TEST(workers_return_when_the_last_background_ends)
{
	pthread_t t;
	int state = 0, tok;
	cpu_set_t w;

	tok = rfs_cpu_bg_begin();
	CHECK_EQ(pthread_create(&t, NULL, bg_thread, &state), 0);
	pthread_mutex_lock(&mu);
	while (state != 1)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	rfs_cpu_bg_end(tok);
	/* The other thread's background work still runs. */
	w = worker_waits();
	CHECK(CPU_EQUAL(&w, ncpu >= 2 ? &fore : &all));
	pthread_mutex_lock(&mu);
	state = 2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	w = worker_waits();
	CHECK(CPU_EQUAL(&w, &all));
}

int
main(void)
{
	pthread_t w;
	int rc;

	nice0 = getpriority(PRIO_PROCESS, 0);
	nice_bg = nice0 > 10 ? nice0 : 10;
	all = mine();
	ncpu = CPU_COUNT(&all);
	fore = all;
	CPU_ZERO(&last);
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &last);
			CPU_CLR(c, &fore);
			break;
		}
	if (ncpu < 2)
		printf("note: one CPU: checking that nothing moves\n");
	rfs_cpu_init();
	if (pthread_create(&w, NULL, worker, NULL) != 0)
		return 1;
	{
		static const struct harness_case cases[] = {
			CASE(background_and_workers_part),
			CASE(nested_background_ends_with_the_outermost),
			CASE(workers_return_when_the_last_background_ends),
		};
		rc = harness_run("cpu", cases, sizeof(cases) / sizeof(cases[0]));
	}
	pthread_mutex_lock(&mu);
	quit = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(w, NULL);
	return rc;
}
